"""Checks for graded cells: run a student's code against an independent oracle and explain.

The oracles are other people's code (TensorFlow, Keras, NumPy, SciPy), never an answer written
here. Every check raises `AssertionError` naming the call, the expected and received values and a
hint; on success it prints one line and returns None (nbgrader would read a returned number as
partial credit).

- `cnnkit.checks.convolution`: Lab 1's forward passes (output size, padding, conv2d, pooling,
  parameters).
- `cnnkit.checks.implementation`: how code runs, not what it returns: speed-up, NumPy only (Lab 1).
- `cnnkit.checks.backward`: Lab 1's backward passes (conv, max-pool), gradient checking and a
  kernel learned by gradient descent.
- `cnnkit.checks.models`: Keras models (shapes, parameters, probabilities, accuracy on a fixed
  test slice, trainability) for Labs 2-4.
- `cnnkit.checks.evaluation`: confusion matrix, confident mistakes and shifted images (Lab 2).
- `cnnkit.checks.pipeline`: a `tf.data` pipeline with augmentation, and an LR schedule (Lab 3).
- `cnnkit.checks.transfer`: augmentation layers, the transfer model, freezing and fine-tuning,
  batch-norm in inference mode (Lab 4).
- `cnnkit.checks.predictions`: a student's prediction beside the measured value, and its grade
  where the quantity is determined (every lab).
"""

from cnnkit.checks.backward import *  # noqa: F403 - the labs call checks.check_conv2d etc.
from cnnkit.checks.common import assert_arrays_match as assert_arrays_match
from cnnkit.checks.convolution import *  # noqa: F403
from cnnkit.checks.evaluation import *  # noqa: F403
from cnnkit.checks.implementation import *  # noqa: F403
from cnnkit.checks.models import *  # noqa: F403
from cnnkit.checks.pipeline import *  # noqa: F403
from cnnkit.checks.predictions import *  # noqa: F403
from cnnkit.checks.transfer import *  # noqa: F403
