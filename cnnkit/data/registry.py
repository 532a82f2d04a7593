"""The registry: each data set's files, their sha256, sizes and download mirrors.

A data set can be held in several *forms* (MNIST as four IDX files or as Keras' ``mnist.npz``);
any one complete form is enough. For IDX files the sha256 is that of the decoded content, so the
raw file and its ``.gz`` (whatever gzip header a mirror wrote) verify alike.
"""

from __future__ import annotations

from dataclasses import dataclass

KERAS_MIRROR = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MNIST_IDX_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


@dataclass(frozen=True)
class DataFile:
    """One file of a data set.

    Attributes:
        name: the canonical file name in the cache, e.g. ``"train-images-idx3-ubyte"``.
        sha256: hex digest of the content (decoded for IDX files), or None where no published
            digest exists (extracted CIFAR batches: validated structurally instead).
        size: bytes of that content, or None where unpublished.
        mirrors: full URLs to download it from, tried in order.
        aliases: other names the same file has in a Keras cache.
    """

    name: str
    sha256: str | None
    size: int | None
    mirrors: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataForm:
    """One complete way of holding a data set; ``kind`` selects the reader."""

    kind: str  # "idx", "keras_npz", "cifar_archive", "cifar_batches" or "image_archive"
    files: tuple[DataFile, ...]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered data set: its forms, shapes and class names."""

    name: str
    title: str
    forms: tuple[DataForm, ...]
    image_shape: tuple[int | None, int | None, int]  # None: photos of varying size
    num_train: int
    num_test: int
    class_names: tuple[str, ...]
    keras_subdirs: tuple[str, ...]  # where Keras' own loader caches it, under ~/.keras/datasets

    def all_files(self) -> tuple[DataFile, ...]:
        """Every file of every form."""
        return tuple(file for form in self.forms for file in form.files)


def _idx_files(digests: dict[str, tuple[str, int]], mirrors: tuple[str, ...]) -> tuple[DataFile, ...]:
    return tuple(
        DataFile(name, sha256, size, mirrors=tuple(f"{base}{name}.gz" for base in mirrors))
        for name, (sha256, size) in digests.items()
    )


# Order inside an IDX form: train images, train labels, test images, test labels.
_MNIST_IDX = {
    "train-images-idx3-ubyte": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
    "train-labels-idx1-ubyte": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008),
    "t10k-images-idx3-ubyte": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016),
    "t10k-labels-idx1-ubyte": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008),
}
_FASHION_IDX = {
    "train-images-idx3-ubyte": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    "train-labels-idx1-ubyte": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    "t10k-images-idx3-ubyte": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    "t10k-labels-idx1-ubyte": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits",
    forms=(
        DataForm("idx", _idx_files(_MNIST_IDX, (MNIST_IDX_MIRROR,))),
        DataForm("keras_npz", (DataFile(
            "mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
            11490434, mirrors=(f"{KERAS_MIRROR}mnist.npz",)),)),
    ),
    image_shape=(28, 28, 1),
    num_train=60000,
    num_test=10000,
    class_names=tuple(str(digit) for digit in range(10)),
    keras_subdirs=("",),
)

FASHION_MNIST = DatasetSpec(
    name="fashion_mnist",
    title="Fashion-MNIST clothing images",
    forms=(DataForm("idx", _idx_files(_FASHION_IDX, (KERAS_MIRROR, FASHION_MIRROR))),),
    image_shape=(28, 28, 1),
    num_train=60000,
    num_test=10000,
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    keras_subdirs=("fashion-mnist",),
)

CIFAR10 = DatasetSpec(
    name="cifar10",
    title="CIFAR-10 small colour images",
    forms=(
        DataForm("cifar_archive", (DataFile(
            "cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            170498071, mirrors=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
            aliases=("cifar-10-batches-py_archive", "cifar-10-batches-py.tar.gz")),)),
        DataForm("cifar_batches", tuple(
            DataFile(name, None, None)
            for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                         "data_batch_5", "test_batch"))),
    ),
    image_shape=(32, 32, 3),
    num_train=50000,
    num_test=10000,
    class_names=("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"),
    keras_subdirs=("", "cifar-10-batches-py", "cifar-10-batches-py/cifar-10-batches-py"),
)

FLOWERS = DatasetSpec(
    name="flowers",
    title="TensorFlow flower photos",
    forms=(DataForm("image_archive", (DataFile(
        "flower_photos.tgz", "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c",
        228813984,
        mirrors=("https://storage.googleapis.com/download.tensorflow.org/example_images/"
                 "flower_photos.tgz",),
        aliases=("flower_photos.tar.gz",)),)),),
    image_shape=(None, None, 3),
    num_train=3670,  # all photos; the lab holds out a seeded 20 % for validation
    num_test=0,
    class_names=("daisy", "dandelion", "roses", "sunflowers", "tulips"),
    keras_subdirs=("",),
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (MNIST, FASHION_MNIST, CIFAR10, FLOWERS)}


def get_spec(name: str) -> DatasetSpec:
    """Return the registered data set called ``name``; raise ValueError listing the known ones."""
    key = name.strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(
            f"Unknown data set {name!r}. Expected one of: {', '.join(DATASETS)}."
        )
    return DATASETS[key]
