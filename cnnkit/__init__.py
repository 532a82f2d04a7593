"""cnnkit: the helper package of a Keras 3 / TensorFlow course on convolutional neural networks."""
from cnnkit._quiet import quiet_tensorflow

quiet_tensorflow()
__version__ = "0.1.0"
