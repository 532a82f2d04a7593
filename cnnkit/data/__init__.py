"""Data sets for the course: a registry with sha256, a verified cache, loaders and tf.data."""

from cnnkit.data.errors import ChecksumError, DataFormatError, DataNotFoundError
from cnnkit.data.loaders import (
    Split,
    class_names,
    load_cifar10,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    select_classes,
)
from cnnkit.data.photos import load_flowers, load_image_folder, load_sample_photo
from cnnkit.data.pipeline import make_dataset
from cnnkit.data.registry import DATASETS, get_spec
from cnnkit.data.store import data_dir, fetch, find, import_files, is_offline, keras_datasets_dir

__all__ = [
    "ChecksumError", "DataFormatError", "DataNotFoundError", "Split", "DATASETS", "class_names",
    "data_dir", "fetch", "find", "get_spec", "import_files", "is_offline", "keras_datasets_dir",
    "load_cifar10", "load_dataset", "load_fashion_mnist", "load_flowers", "load_image_folder",
    "load_mnist", "load_sample_photo", "make_dataset", "select_classes",
]
