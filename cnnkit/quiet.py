"""Keep TensorFlow's start-up chatter off stderr, so graded notebook cells stay clean.

TensorFlow 2.21 writes absl log lines ("oneDNN custom operations are on", "Could not find cuda
drivers", "failed call to cuInit") while its shared libraries load, before it reads
``TF_CPP_MIN_LOG_LEVEL``. nbgrader scores a test cell that writes to stderr as failed, so the
environment variable alone is not enough: the first ``import tensorflow`` after ``import cnnkit``
runs with file descriptor 2 captured, known noise is dropped and anything else is written back.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Iterator

# Words found in the lines TensorFlow prints on every start: absl's preamble, oneDNN, CUDA
# probing on a machine without a GPU driver, and the CPU-feature notice.
STARTUP_MARKERS = ("absl::InitializeLog", "oneDNN custom operations", "cuda drivers", "cuInit",
                   "cuda_platform", "cuda_dnn", "cuda_fft", "cuda_blas", "Unable to register",
                   "cpu_feature_guard", "rebuild TensorFlow", "To enable the following instructions",
                   "This TensorFlow binary is optimized")

# A whole line of that chatter (absl's I/W lines are all start-up or informational; an E line only
# when it is one of the markers); anything not matching is passed through unchanged.
_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} .*"
    rf"|E\d{{4}} .*({'|'.join(map(re.escape, STARTUP_MARKERS))}).*"
    r"|To enable the following instructions:.*"
    r"|This TensorFlow binary is optimized.*)$"
)

# nbgrader's `IgnorePattern.pattern` while grading: a stderr output holding any of the markers,
# or a Python warning, is dropped, so it cannot turn a passing test cell into a failing one.
GRADING_IGNORE_STDERR = ("(?s).*(" + "|".join(map(re.escape, (*STARTUP_MARKERS, "UserWarning",
                                                               "DeprecationWarning"))) + ").*")


def filter_noise(text: str) -> str:
    """Return ``text`` without the lines TensorFlow prints on every start."""
    kept = [line for line in text.splitlines(keepends=True) if not _NOISE.match(line.rstrip("\n"))]
    return "".join(kept)


@contextlib.contextmanager
def captured_stderr_fd() -> Iterator[None]:
    """Capture file descriptor 2 (C++ and Python writes alike); re-emit what is not noise."""
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            sink.seek(0)
            leftover = filter_noise(sink.read().decode("utf-8", errors="replace"))
            if leftover:
                sys.stderr.write(leftover)
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Wrap TensorFlow's loader: execute the module, and initialise devices, with stderr captured."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> object | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: object) -> None:
        with captured_stderr_fd():
            self._loader.exec_module(module)
            # Device discovery prints "failed call to cuInit" on machines without a GPU driver;
            # doing it here, once, keeps that line out of the first cell that runs an op.
            module.config.list_physical_devices()
            _quiet_python_loggers()


class _TensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object, target: object = None,
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _QuietLoader(spec.loader)
        return spec


def _quiet_python_loggers() -> None:
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)


def quiet_tensorflow() -> None:
    """Set TensorFlow's log levels and make its first import silent (idempotent).

    Set ``TF_CPP_MIN_LOG_LEVEL`` yourself before importing cnnkit to see TensorFlow's C++ logs.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        _quiet_python_loggers()
        return
    if not any(isinstance(finder, _TensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowFinder())
