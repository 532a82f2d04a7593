"""Run profiles, seeding, profile-aware subsets and `fit_or_load` for the labs' training cells.

Profiles (``CNNKIT_PROFILE``): ``full`` trains for real (a student's default); ``smoke`` trains on
small subsets for one epoch so every notebook runs in CI in seconds; ``grade`` never trains:
`fit_or_load` loads the weights the student submitted. While nbgrader executes a notebook
(``NBGRADER_EXECUTION`` is set) the profile is always ``grade``, whatever ``CNNKIT_PROFILE`` says,
so neither a line in the notebook nor the grader's shell can change how a submission is graded.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnkit.files import atomic_path, write_text_atomically


@dataclass(frozen=True)
class Profile:
    """How much work training cells do.

    Attributes:
        name: ``"full"``, ``"smoke"`` or ``"grade"``.
        trains: whether `fit_or_load` may train (False: it only loads weights).
        max_examples: the size `subset` cuts data sets to; None keeps them whole.
        max_epochs: the cap `fit_or_load` puts on epochs; None keeps the requested number.
        max_steps: the cap `steps_for_profile` puts on optimizer steps (for training counted
            in steps, not epochs); None keeps the requested number.
    """

    name: str
    trains: bool
    max_examples: int | None
    max_epochs: int | None
    max_steps: int | None = None


PROFILES = {
    "full": Profile("full", trains=True, max_examples=None, max_epochs=None),
    "smoke": Profile("smoke", trains=True, max_examples=2048, max_epochs=1, max_steps=4),
    "grade": Profile("grade", trains=False, max_examples=2048, max_epochs=0),
}


@functools.cache
def _initial_environment() -> frozenset[str]:
    """The names in the environment this process started with (Linux; empty elsewhere)."""
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return frozenset()
    return frozenset(entry.split(b"=", 1)[0].decode(errors="replace")
                     for entry in raw.split(b"\0") if entry)


def under_nbgrader() -> bool:
    """Whether nbgrader is executing this notebook (``autograde`` or ``validate``).

    Besides ``os.environ``, the environment the kernel started with is read: a notebook cell can
    delete ``NBGRADER_EXECUTION`` from the first, not from the second.
    """
    return bool(os.environ.get("NBGRADER_EXECUTION")) or \
        "NBGRADER_EXECUTION" in _initial_environment()


def current_profile() -> Profile:
    """Return the active profile: ``grade`` under nbgrader, else ``CNNKIT_PROFILE``, else ``full``.

    Raises:
        ValueError: ``CNNKIT_PROFILE`` names no profile.
    """
    if under_nbgrader():
        return PROFILES["grade"]
    requested = os.environ.get("CNNKIT_PROFILE", "").strip().lower()
    if requested:
        if requested not in PROFILES:
            raise ValueError(
                f"CNNKIT_PROFILE={requested!r} is not a profile. Expected one of: "
                f"{', '.join(PROFILES)}. Unset it to use the default ('full')."
            )
        return PROFILES[requested]
    return PROFILES["full"]


def set_seed(seed: int = 42, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TensorFlow; with ``deterministic``, make TF ops bit-reproducible.

    Op determinism makes some GPU ops slower and a few unavailable; on CPU it costs little.
    """
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def subset(images: np.ndarray, labels: np.ndarray | None = None, size: int | None = None,
           seed: int = 0) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Cut a data set to the profile's size (``smoke``/``grade``: 2,048), or to ``size``.

    The kept examples are a seeded random choice, in their original order, so every run of a
    notebook sees the same subset.

    Args:
        images: array of shape `(N, ...)`.
        labels: array of shape `(N,)`, cut alongside, or None.
        size: keep at most this many; None uses the profile's limit (``full``: keep all).
        seed: which random subset.

    Returns:
        ``images`` (and ``labels``) with at most ``size`` rows.
    """
    limit = size if size is not None else current_profile().max_examples
    if labels is not None and len(labels) != len(images):
        raise ValueError(
            f"images and labels differ in length: received {len(images)} and {len(labels)}."
        )
    if limit is None or limit >= len(images):
        return images if labels is None else (images, labels)
    keep = np.sort(np.random.default_rng(seed).choice(len(images), size=limit, replace=False))
    return images[keep] if labels is None else (images[keep], labels[keep])


def epochs_for_profile(epochs: int) -> int:
    """Return ``epochs`` capped by the profile (``smoke``: 1)."""
    cap = current_profile().max_epochs
    return epochs if cap is None else min(epochs, cap)


def steps_for_profile(steps: int) -> int:
    """Return ``steps`` capped by the profile (``smoke``: 4)."""
    cap = current_profile().max_steps
    return steps if cap is None else min(steps, cap)


@dataclass
class FitResult:
    """What `fit_or_load` did.

    Attributes:
        history: per-epoch metrics, like `keras.callbacks.History.history` (also after a load,
            when the training run saved them).
        weights_path: the ``.weights.h5`` file written or read.
        trained: True if this call trained the model, False if it loaded weights.
        seconds: wall time of the training (0 when loaded).
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    weights_path: Path | None = None
    trained: bool = False
    seconds: float = 0.0


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def weights_path_for(name: str, directory: str | os.PathLike | None = None,
                     profile: Profile | None = None) -> Path:
    """Return where `fit_or_load` keeps the weights called ``name`` under a profile.

    ``smoke`` runs write ``NAME.smoke.weights.h5`` so they never overwrite real weights.
    """
    if not _NAME.match(name):
        raise ValueError(
            f"Weights name {name!r} is not a plain file name. Expected letters, digits, '_' or "
            "'-', e.g. 'mnist_convnet'."
        )
    profile = profile or current_profile()
    suffix = ".smoke.weights.h5" if profile.name == "smoke" else ".weights.h5"
    return Path(directory or Path.cwd()) / f"{name}{suffix}"


def load_weights(model: Any, weights: Path) -> None:
    """Load ``weights`` into ``model``.

    Raises:
        ValueError: the file does not fit the model; the message says which variable and how.
    """
    try:
        with warnings.catch_warnings():
            # The file also holds the optimizer's state; a fresh model has none yet, which is fine.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(weights)
    except (ValueError, KeyError, OSError) as error:
        text = str(error)
        shapes = re.search(r"variable\.shape=\([^)]*\),? Received: value\.shape=\([^)]*\)", text)
        reason = shapes.group(0) if shapes else (text.splitlines() or [repr(error)])[0][:300]
        raise ValueError(
            f"The weights in {weights} do not fit this model ({reason}). Build the model exactly "
            "as it was when these weights were trained, or delete the file and train again."
        ) from None


def _read_history(weights: Path) -> dict[str, list[float]]:
    """Return the metrics saved beside ``weights``; {} (with a note) if absent or unreadable."""
    history_file = weights.with_name(weights.name.replace(".weights.h5", ".history.json"))
    if not history_file.is_file():
        return {}
    try:
        history = json.loads(history_file.read_text())
    except (ValueError, OSError) as error:
        print(f"Note: ignoring {history_file.name}, which is not readable JSON ({error}); "
              "the weights were loaded, only the training curves are missing.")
        return {}
    if not isinstance(history, dict):
        print(f"Note: ignoring {history_file.name}: expected a JSON object of metric lists.")
        return {}
    return history


def _save(model: Any, weights: Path, history: dict[str, list[float]]) -> None:
    with atomic_path(weights) as partial:  # an interrupted save never leaves a broken file
        model.save_weights(partial)
    history_file = weights.with_name(weights.name.replace(".weights.h5", ".history.json"))
    write_text_atomically(history_file, json.dumps(history, indent=1))


def _is_dataset(x: Any) -> bool:
    return type(x).__module__.startswith("tensorflow") and hasattr(x, "element_spec")


def fit_or_load(model: Any, name: str, x: Any, y: Any = None, *, epochs: int = 1,
                directory: str | os.PathLike | None = None, retrain: bool = False,
                **fit_kwargs: Any) -> FitResult:
    """Train ``model`` and save its weights beside the notebook, or load them if saved before.

    - ``full``: loads ``NAME.weights.h5`` if it exists (pass ``retrain=True`` to train again),
      otherwise trains for ``epochs`` and saves the weights and the history.
    - ``smoke``: always trains, at most one epoch, into ``NAME.smoke.weights.h5``.
    - ``grade``: never trains; loads ``NAME.weights.h5`` or fails with a message saying which
      file the submission lacks.

    Args:
        model: a compiled Keras model.
        name: the weights' name, e.g. ``"mnist_convnet"``.
        x, y: training data, as for `model.fit` (arrays or a `tf.data.Dataset` in ``x``).
        epochs: epochs for a ``full`` run.
        directory: where the weights live (default: the working directory, i.e. beside the
            notebook).
        retrain: train even if weights exist (``full`` only).
        **fit_kwargs: passed to `model.fit` (``batch_size``, ``validation_data``, ...).

    Returns:
        A `FitResult` with the history, the weights' path and whether it trained.

    Raises:
        FileNotFoundError: ``grade`` profile and no weights file.
        ValueError: the weights file does not fit the model.
    """
    profile = current_profile()
    weights = weights_path_for(name, directory, profile)
    if not profile.trains:
        if not weights.is_file():
            raise FileNotFoundError(
                f"{weights.name} is missing: while grading, models are not trained, they are "
                f"loaded from the weights saved beside the notebook. Fix: run this notebook "
                f"with the full profile (the training cell writes {weights.name}) and submit "
                "that file together with the notebook."
            )
        load_weights(model, weights)
        return FitResult(_read_history(weights), weights, trained=False)
    if profile.name == "full" and weights.is_file() and not retrain:
        load_weights(model, weights)
        print(f"Loaded {weights.name} (trained earlier). To train again, pass retrain=True "
              "or delete the file.")
        return FitResult(_read_history(weights), weights, trained=False)
    if _is_dataset(x):  # a tf.data pipeline shuffles itself; Keras warns if asked to
        fit_kwargs.setdefault("shuffle", False)
    start = time.perf_counter()
    history = model.fit(x, y, epochs=epochs_for_profile(epochs), **fit_kwargs)
    seconds = time.perf_counter() - start
    metrics = {key: [float(value) for value in values] for key, values in history.history.items()}
    weights.parent.mkdir(parents=True, exist_ok=True)
    _save(model, weights, metrics)
    return FitResult(metrics, weights, trained=True, seconds=seconds)
