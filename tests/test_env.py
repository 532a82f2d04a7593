"""The doctor's report and exit codes, and the quiet import (nothing on stderr)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cnnkit.env import detect_platform

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, env_extra: dict | None = None, pythonpath: Path | None = None):
    """Run ``python -c code`` in a fresh process with the kit importable; return the result."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"CNNKIT_PROFILE", "NBGRADER_EXECUTION", "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL"}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath or ""), str(ROOT)]))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


DOCTOR = "import sys, cnnkit.cli; sys.exit(cnnkit.cli.main(['doctor']))"


@pytest.mark.slow
def test_doctor_passes_here_and_reports_everything():
    """On this machine, does the doctor exit 0 and report each item it promises?"""
    result = run_python(DOCTOR, {"CNNKIT_PROFILE": "smoke"})
    assert result.returncode == 0, result.stdout + result.stderr
    for label in ("Python:", "Platform:", "TensorFlow:", "Keras:", "Keras backend:   tensorflow",
                  "GPU:", "Profile:         smoke", "Data cache:", "mnist:", "cifar10:",
                  "Grading:         isolated with bubblewrap"):
        assert label in result.stdout
    assert "The kit can run here." in result.stdout


@pytest.mark.slow
def test_doctor_python_m_entry_point():
    """Does `python -m cnnkit doctor` work too?"""
    result = subprocess.run([sys.executable, "-m", "cnnkit", "doctor"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and "cnnkit 0.1.0 doctor" in result.stdout


@pytest.mark.slow
def test_doctor_fails_on_another_keras_backend():
    """With KERAS_BACKEND=numpy, does the doctor exit 1 and say how to switch back?"""
    result = run_python(DOCTOR, {"KERAS_BACKEND": "numpy"})
    assert result.returncode == 1
    # With jax installed Keras imports and reports its backend; without, the variable is named.
    assert re.search(r"FAIL  Keras backend:   numpy", result.stdout)
    assert "set KERAS_BACKEND=tensorflow" in result.stdout
    assert "pip install 'keras>=3'" not in result.stdout


@pytest.mark.slow
def test_doctor_fails_on_keras_2(tmp_path):
    """With Keras 2 installed, does the doctor exit 1 and say to install Keras 3?"""
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "__init__.py").write_text("__version__ = '2.15.0'\n")
    result = run_python(DOCTOR, pythonpath=tmp_path)
    assert result.returncode == 1
    assert "FAIL  Keras:           2.15.0 (Keras 2)" in result.stdout
    assert "cnnkit needs Keras 3: pip install -U 'keras>=3'" in result.stdout


@pytest.fixture
def without_tensorflow(tmp_path) -> Path:
    """A folder to put first on PYTHONPATH, whose `tensorflow` fails to import."""
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(
        "raise ImportError('No module named tensorflow')\n")
    return tmp_path


def test_doctor_fails_without_tensorflow(without_tensorflow):
    """With TensorFlow missing, does the doctor exit 1 and say how to install it?"""
    result = run_python(DOCTOR, pythonpath=without_tensorflow)
    assert result.returncode == 1
    assert "FAIL  TensorFlow:      cannot be imported" in result.stdout
    assert "pip install -e ." in result.stdout


def test_doctor_fails_on_a_misspelt_profile(without_tensorflow):
    """Is CNNKIT_PROFILE=fast reported as a failure with the valid names?"""
    result = run_python(DOCTOR, {"CNNKIT_PROFILE": "fast"}, pythonpath=without_tensorflow)
    assert result.returncode == 1 and "Expected one of: full, smoke, grade" in result.stdout


@pytest.mark.parametrize("variable, expected", [
    ("COLAB_RELEASE_TAG", "colab"), ("KAGGLE_KERNEL_RUN_TYPE", "kaggle"),
    ("JUPYTERHUB_USER", "jupyterhub"), (None, "local")])
def test_platform_detection(monkeypatch, variable, expected):
    """Are Colab, Kaggle and JupyterHub recognised from their environment variables?"""
    for name in ("COLAB_RELEASE_TAG", "KAGGLE_KERNEL_RUN_TYPE", "JUPYTERHUB_USER", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    if variable:
        monkeypatch.setenv(variable, "1")
    assert detect_platform() == expected


@pytest.mark.slow
def test_colab_without_gpu_is_told_where_to_switch_one_on():
    """On Colab with no GPU, does the doctor say Runtime → Change runtime type?"""
    result = run_python(DOCTOR, {"COLAB_RELEASE_TAG": "test"})
    assert result.returncode == 0 and "Platform:        colab" in result.stdout
    if "warn  GPU:" in result.stdout:  # on a machine with a GPU there is nothing to advise
        assert "Runtime → Change runtime type → Hardware accelerator: GPU" in result.stdout


def test_import_cnnkit_writes_nothing_to_stderr():
    """Is `import cnnkit` silent on stderr?"""
    result = run_python("import cnnkit")
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.slow
def test_tensorflow_after_cnnkit_is_silent_on_stderr():
    """After `import cnnkit`, are importing TensorFlow and running a first op silent on stderr?"""
    code = ("import cnnkit, tensorflow as tf, keras\n"
            "print(keras.layers.Dense(2)(tf.zeros((1, 3))).shape)")
    result = run_python(code)
    assert result.returncode == 0 and result.stdout.strip() == "(1, 2)"
    assert result.stderr == ""


@pytest.mark.slow
def test_tensorflow_without_cnnkit_is_noisy_here():
    """Control: without cnnkit, does TensorFlow write to stderr (so the test above means something)?

    If a TensorFlow release stops printing at start-up, this fails: then the filter may go.
    """
    result = run_python("import tensorflow as tf; tf.zeros(1)")
    assert result.returncode == 0 and "absl::InitializeLog" in result.stderr


def test_filter_keeps_real_errors():
    """Does the stderr filter drop TensorFlow's start-up lines but keep anything else?"""
    from cnnkit.quiet import filter_noise

    noise = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
             "I0000 00:00:1795431471.291444    2847 port.cc:153] oneDNN custom operations are on.\n"
             "E0000 00:00:1795431473.916614    2847 cuda_platform.cc:52] failed call to cuInit\n")
    real = "Traceback (most recent call last):\nE0000 1 some_other.cc:1] disk full\n"
    assert filter_noise(noise + real) == real


@pytest.mark.slow
def test_notebook_cells_importing_tensorflow_write_nothing_to_stderr(tmp_path):
    """In a real Jupyter kernel (where nbgrader runs tests), do TF cells stay off stderr?"""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import cnnkit"),
        nbformat.v4.new_code_cell("import tensorflow as tf\nimport keras"),
        nbformat.v4.new_code_cell("print(keras.layers.Dense(2)(tf.zeros((1, 3))).shape)"),
    ])
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    streams = [(output.name, output.text) for cell in notebook.cells for output in cell.outputs
               if output.output_type == "stream"]
    assert streams == [("stdout", "(1, 2)\n")]


def test_mixed_precision_only_with_a_gpu(monkeypatch):
    """No GPU: float32 stays. A GPU: mixed_float16, and a float32 last layer still gives float32."""
    import keras

    import cnnkit.env as env

    try:
        monkeypatch.setattr(env, "configure_gpus", lambda: [])
        assert env.use_mixed_precision_if_gpu() == "float32"
        assert keras.mixed_precision.global_policy().name == "float32"
        monkeypatch.setattr(env, "configure_gpus", lambda: ["a GPU"])
        assert env.use_mixed_precision_if_gpu() == "mixed_float16"
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(3)
        outputs = keras.layers.Dense(2, activation="softmax", dtype="float32")(hidden(inputs))
        assert hidden.compute_dtype == "float16"
        assert keras.Model(inputs, outputs).output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("colab_sign", ["COLAB_RELEASE_TAG", "google.colab"])
def test_doctor_on_colab_without_gpu_says_how_to_switch_one_on(monkeypatch, empty_cache,
                                                                 colab_sign):
    """On Colab (told by its variable or its module) with no GPU: is the menu path in the report?

    TensorFlow and Keras are stubbed out so that this runs anywhere, GPU or not, in a second.
    """
    import io
    import types

    import cnnkit.env as env

    for name in ("COLAB_RELEASE_TAG", "KAGGLE_KERNEL_RUN_TYPE", "CNNKIT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    if colab_sign == "google.colab":
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.setenv(colab_sign, "test")
    monkeypatch.setattr(env, "_check_tensorflow", lambda: (env.Finding("ok", "TensorFlow", "2.x"),
                                                           object()))
    monkeypatch.setattr(env, "_check_keras", lambda: [])
    monkeypatch.setattr(env, "configure_gpus", lambda: [])
    report = io.StringIO()
    assert env.doctor(report) == 0
    assert "Platform:        colab" in report.getvalue()
    assert re.search(r"warn  GPU:\s+none: training runs on the CPU\n\s+→ Colab: Runtime → Change "
                     r"runtime type → Hardware accelerator: GPU .*run the notebook again from the "
                     r"top, its Colab setup cell first\.", report.getvalue())


def test_doctor_says_when_grading_cannot_be_isolated_and_how_to_fix_it(monkeypatch):
    """Without bubblewrap, does the doctor warn (not fail) and say what to install?"""
    from cnnkit import env
    from cnnkit.course import sandbox

    monkeypatch.setattr(sandbox, "shutil", type("NoBwrap", (), {"which": staticmethod(lambda _: None)}))
    monkeypatch.setattr(sandbox, "_SUPPORT", None)
    finding = env._check_grading_isolation()
    monkeypatch.setattr(sandbox, "_SUPPORT", None)
    assert finding.status == "warn" and "bubblewrap (bwrap) is not installed" in finding.detail
    assert "apt-get install bubblewrap" in finding.fix
