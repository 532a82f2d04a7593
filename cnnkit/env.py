"""The doctor: what this machine offers the kit (versions, backend, GPUs, platform, data, profile)."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from typing import TextIO

MIN_PYTHON = (3, 10)


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report.

    Attributes:
        status: ``"ok"``, ``"warn"`` (works, but could be better) or ``"fail"`` (the kit can't run).
        label: what was checked.
        detail: what was found.
        fix: what to do about a warn or fail.
    """

    status: str
    label: str
    detail: str
    fix: str = ""


def detect_platform() -> str:
    """Return ``"colab"``, ``"kaggle"``, ``"jupyterhub"`` or ``"local"``."""
    if "COLAB_RELEASE_TAG" in os.environ or "google.colab" in sys.modules:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
        return "kaggle"
    if "JUPYTERHUB_USER" in os.environ or "JUPYTERHUB_API_TOKEN" in os.environ:
        return "jupyterhub"
    return "local"


def _check_python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return Finding("fail", "Python", version, "cnnkit needs Python 3.10 or newer.")
    return Finding("ok", "Python", f"{version} ({platform.machine()})")


def _check_tensorflow() -> tuple[Finding, object | None]:
    try:
        import tensorflow as tf
    except Exception as error:  # noqa: BLE001 - any import failure means "can't run"
        return Finding("fail", "TensorFlow", f"cannot be imported ({type(error).__name__}: "
                       f"{error})", "pip install -e . (or: pip install 'tensorflow>=2.16')"), None
    return Finding("ok", "TensorFlow", tf.__version__), tf


_BACKEND_FIX = "set KERAS_BACKEND=tensorflow (or unset it) and restart the kernel"


def _check_keras() -> list[Finding]:
    requested = os.environ.get("KERAS_BACKEND", "")
    wrong_backend = ([Finding("fail", "Keras backend", f"{requested} (from KERAS_BACKEND)", _BACKEND_FIX)]
                     if requested and requested != "tensorflow" else [])
    try:
        import keras
    except Exception as error:  # noqa: BLE001 - e.g. KERAS_BACKEND names a missing package
        fix = "see the Keras backend line below" if wrong_backend else "pip install 'keras>=3'"
        return [Finding("fail", "Keras", f"cannot be imported ({type(error).__name__}: {error})",
                        fix)] + wrong_backend
    version = getattr(keras, "__version__", "unknown")
    if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 3:
        return [Finding("fail", "Keras", f"{version} (Keras 2)",
                        "cnnkit needs Keras 3: pip install -U 'keras>=3' and uninstall tf-keras "
                        "if TF_USE_LEGACY_KERAS is set")]
    backend = keras.backend.backend()
    status = "ok" if backend == "tensorflow" else "fail"
    return [Finding("ok", "Keras", version),
            Finding(status, "Keras backend", backend, _BACKEND_FIX if status == "fail" else "")]


def configure_gpus() -> list[str]:
    """Turn on memory growth on every GPU (so TF does not grab all memory); return their names.

    Call it at the top of a notebook, before the first model is built.
    """
    import tensorflow as tf

    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # devices already initialised: growth can no longer change
            pass
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return names


def use_mixed_precision_if_gpu() -> str:
    """Switch Keras to the ``mixed_float16`` policy when a GPU is present; return the policy.

    On a GPU, float16 computations with float32 weights roughly double training speed (Tensor
    Cores) at the same accuracy; on a CPU they would be slower, so the policy stays
    ``float32``. Give the last layer ``dtype="float32"`` so the probabilities stay exact.
    """
    import keras

    policy = "mixed_float16" if configure_gpus() else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def _check_gpus(where: str) -> Finding:
    names = configure_gpus()
    if names:
        return Finding("ok", "GPU", f"{len(names)} found, memory growth on: {', '.join(names)}")
    how = {
        "colab": "Colab: Runtime → Change runtime type → Hardware accelerator: GPU (e.g. T4 GPU) "
                 "→ Save. Colab then starts a new machine: run the notebook again from the top, "
                 "its Colab setup cell first.",
        "kaggle": "Kaggle: Settings → Accelerator → GPU.",
    }.get(where, "Nothing to do: every lab runs on the CPU, full training just takes longer. "
                 "For a GPU on Linux: pip install -e '.[gpu]'.")
    return Finding("warn", "GPU", "none: training runs on the CPU", how)


def _check_data() -> list[Finding]:
    from cnnkit.data import DATASETS, data_dir, find, is_offline

    findings = [Finding("ok", "Data cache", f"{data_dir()}{' (offline mode)' if is_offline() else ''}")]
    for spec in DATASETS.values():
        located = find(spec)
        if located:
            findings.append(Finding("ok", f"  {spec.name}", f"{located.origin}, {located.form.kind}"))
        else:
            findings.append(Finding("warn", f"  {spec.name}", "not in the cache",
                                    f"cnnkit data fetch {spec.name} (or: cnnkit data import "
                                    f"{spec.name} PATH)"))
    return findings


def _check_profile() -> Finding:
    from cnnkit.train import current_profile

    try:
        return Finding("ok", "Profile", current_profile().name)
    except ValueError as error:
        return Finding("fail", "Profile", os.environ.get("CNNKIT_PROFILE", ""), str(error))


def _check_grading_isolation() -> Finding:
    """Whether `cnnkit course grade` can isolate student code here (it matters to instructors)."""
    from cnnkit.course.sandbox import sandbox_support

    support = sandbox_support()
    if support.available:
        detail = support.describe()
        if support.process_limit == "none":
            return Finding("warn", "Grading", detail, "as root, the number of processes is capped "
                           "through a pids cgroup; none is writable here (grade as an ordinary "
                           "user, or give this user a cgroup)")
        return Finding("ok", "Grading", detail)
    return Finding("warn", "Grading", f"{support.describe()} (instructors only: "
                   "`cnnkit course grade` will refuse)", support.fix)


def diagnose() -> list[Finding]:
    """Run every check and return the findings, in report order."""
    where = detect_platform()
    findings = [_check_python(), Finding("ok", "Platform", where)]
    tf_finding, tf = _check_tensorflow()
    findings.append(tf_finding)
    if tf is not None:
        findings += _check_keras()
        findings.append(_check_gpus(where))
    findings.append(_check_profile())
    findings += _check_data()
    findings.append(_check_grading_isolation())
    return findings


def doctor(stream: TextIO = sys.stdout) -> int:
    """Print the doctor's report; return 0 if the kit can run here, 1 otherwise."""
    from cnnkit import __version__

    findings = diagnose()
    stream.write(f"cnnkit {__version__} doctor\n")
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    for finding in findings:
        stream.write(f"  {marks[finding.status]}  {finding.label + ':':<16} {finding.detail}\n")
        if finding.fix:
            stream.write(f"        {'':<16} → {finding.fix}\n")
    failed = [finding for finding in findings if finding.status == "fail"]
    if failed:
        stream.write(f"\n{len(failed)} problem(s) stop the kit from running here; fix them as "
                     "shown above, then run `cnnkit doctor` again.\n")
        return 1
    stream.write("\nThe kit can run here.\n")
    return 0
