"""cnnkit: the helper package of a Keras 3 / TensorFlow course on convolutional neural networks."""
from cnnkit._quiet import quiet_tensorflow

quiet_tensorflow()
__version__ = "0.1.0"


def check(notebook=None):  # noqa: ANN001, ANN201 - documented in cnnkit.student.check
    """Run this notebook's visible tests in a fresh kernel and print a table per exercise.

    Save the notebook first. See `cnnkit.student.check.check`.
    """
    from cnnkit.student import check as run_check

    return run_check(notebook)
