"""The lecture notebooks: committed clean, in the course's order, and computing the facts they state."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from cnnkit.course.colab import NOTEBOOK_NEEDS
from tests.labcode import execute
from tests.timings import record_timing

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ORDER = ["01-why-convolutions", "02-convolution-operation", "03-convolution-arithmetic",
         "04-pooling-and-invariance", "05-architectures", "06-what-cnns-learn",
         "07-beyond-classification"]
# Each notebook's wall-time budget in the smoke profile (recorded, not asserted: tests/timings.py),
# and each cell's hard timeout.
SMOKE_BUDGET_SECONDS = 120

# Printed by the notebooks' cells: each string (or pattern, where a number comes from training or
# from the machine) proves that a CURRICULUM number was computed.
FACTS = {
    "01-why-convolutions": [
        "dense layer of 1,000 units: 921,601,000 parameters ≈ 922 M",
        "200×200×1 image into 40,000 units: 1,600,040,000 parameters ≈ 1.6 G",
        "as the lectures say it: ~2 B",
        "32×32×3 image: 3,072 features", "64×64×3 image: 12,288 features",
        "same outputs with permuted weights: True",
        "MLP total 203,530 parameters", "ConvNet total: 431,754 parameters",
        "mnist: images 28×28×1 uint8 (values 0..255), 60,000 training / 10,000 test, 10 classes",
        "fashion_mnist: images 28×28×1 uint8 (values 0..255), 60,000 training / 10,000 test",
        "images 32×32×3 (3,072 values), 50,000 training / 10,000 test, 10 classes",
        "airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck",
        "7.60 %   LeCun et al. 1998", "1.60 %   Simard", "0.23 %   Cireşan", "5.19 %   Huang",
        "4.00 %   Zagoruyko", "50.00 %",
        re.compile(r"measured: linear softmax classifier, MNIST test error \d+\.\d\d %"),
    ],
    "02-convolution-operation": [
        "feature map: [[12, 12, 17], [10, 17, 19], [9, 6, 14]]",
        "NumPy and Keras agree: True",
        "correlation equals convolution for the worked kernel: False",
        "cross_correlate2d with the flipped kernel equals convolve2d: True",
        "correlation equals convolution for the symmetric kernel: True",
        re.compile(r"response on the matching patch:\s+1,785"),
        re.compile(r"response on the non-matching patch:\s+255"),
        # An all-positive template fires as strongly on solid ink; a zero-sum one does not.
        re.compile(r"the curve\s+1,785\s+1,530"), re.compile(r"solid ink\s+1,785\s+0\n"),
        "image (32, 32, 3), filter (5, 5, 3): three maps [(28, 28), (28, 28), (28, 28)], "
        "summed into one (28, 28)",
        "equals the sum of the three per-channel correlations: True",
        "input 32×32×3 -> output 28×28×6", "kernel shape (3, 3, 16, 32)",
    ],
    "03-convolution-arithmetic": [
        "7×7 input, 3×3 filter, stride 1: output 5×5", "7×7 input, 3×3 filter, stride 2: output 3×3",
        "(7 - 3 + 2*0) / 3 + 1 = 2.33 is not a whole number, so the filter does not fit",
        "30 / 32 / 34", "28 / 32 / 36", "26 / 32 / 38",
        "32 → 28 → 24 → 20 → 16 → 12 → 8 → 4",
        "5 filters of 5×5×3, weights: 375", "with one bias per filter: 380",
        "F=3, S=1, P=1: {28: 28, 32: 32, 224: 224}  keeps the size: True",
        "MaxPooling2D: 224×224×64 → 112×112×64, parameters: 0",
        "last pool padding 'valid': 28×28×1 → 26×26×16 → 13×13×16 → 11×11×64 → 5×5×64",
        "last pool padding 'same': 28×28×1 → 26×26×16 → 13×13×16 → 11×11×64 → 6×6×64  "
        "(matches the lecture: True)",
        "224: halved exactly 5 times",
        "(227 − 11)/4 + 1 = 55.00: exact 55",
        "3 stacked 3×3 conv(s): receptive field 7×7, measured with Keras: 7",
        "3 × 3×3 (27·C²): 110,592 weights (Keras 110,592)  vs  one 7×7 (49·C²): 200,704",
        # Doubling the filters as the image halves keeps each layer's work level.
        re.compile(r"224×224×64 .*= 1\.85 G.*\n112×112×128 .*= 1\.85 G.*\n56×56×256 .*= 1\.85 G"),
    ],
    "04-pooling-and-invariance": [
        "block1_conv1 → block5_pool: positions ÷ 1,024, channels × 8",
        "equivariant: True", re.compile(r"after global max-pool\s+0\.000\s+0\.00\d"),
        re.compile(r"global max-pool features: shift 3 px → 0\.0\d\d, rotation 45° → 0\.\d+"),
        re.compile(r"clean test accuracy 0\.\d+; shifted 2 px 0\.\d+"), "chance level 0.100",
        re.compile(r"rotated 90°: 0\.\d+, (below|above) the chance level 0\.100"),
    ],
    "05-architectures": [
        "C3: output (10, 10, 16), trainable parameters 1,516 (by hand: 1,516), connections 151,600",
        "S2: output (14, 14, 6), parameters 12, connections 5,880",
        "LeNet-5 in all: 60,850 trainable parameters",
        "MNIST test error, trained with distortions (LeCun et al., 1998): 0.8 %",
        "CONV1 output: 55×55×96 = (55, 55, 96); parameters (11·11·3)·96 + 96 = 34,944 (Keras: 34,944)",
        "after pool1: 27×27×96", "after pool2: 13×13×256", "after pool3: 6×6×256",
        "AlexNet in all: 62,378,344 parameters ≈ 62.4 M",
        "to 55×55×96 (290,400): 43.71 G weights",
        "top-5 test error, ILSVRC-2012: 15.3 %", "runner-up's top-5 test error: 26.2 %",
        "training time: 5–6 days",
        "same shapes and parameters as keras.applications.VGG16: True",
        "VGG-16: 138,357,544 parameters ≈ 138.4 M; float32: 553.4 MB",
        "SGD: weights + gradients (×2): 1.11 GB",
        "SGD with momentum: + one velocity (×3): 1.66 GB",
        "Adam: + two moment estimates (×4): 2.21 GB",
        "fc1 weights 7·7·512·4096 = 102,760,448",
        "sum of the per-layer rows (input included): 15,237,608",
        "quoted on the slide: 24.0 M ≈ 93 MB",
        "VGG-16 multiply-adds per image: convolutions 15.35 G",
        "VGG-16 (configuration D) top-5 validation error, train and test at scale 256: 8.8 %",
        "jittered training, multi-crop and dense evaluation: 7.2 %",
        "(Szegedy et al., 2015): 6.67 %",
        "the bottlenecks cut the multiply-adds 2.4×",
        "residual block with F = 0 returns its input: True",
        "ResNet50: 50 weighted layers on the main path, 25,636,712 parameters, 3.86 G multiply-adds",
        "ResNet152: 152 weighted layers", "(two of them 152 layers): 3.57 %",
        "ratio: measured 0.1131, formula 1/K + 1/F² = 0.1131",
        re.compile(r"full convolutions\s+29,306,056\s+4,867 M \|\s+71\.7 %\s+4,866 M\s+29\.3 M"),
        re.compile(r"depthwise separable\s+4,253,864\s+569 M \|\s+70\.6 %\s+569 M\s+4\.2 M"),
        "keras.applications.MobileNet: 4,253,864 parameters (same: True)",
        "without them: 4.2 M", "training, activations only: 122 MB per image, 7.8 GB for a batch of 64",
        re.compile(r"EfficientNetV2S\s+384\s+21\.6 M\s+8\.37 G\s+83\.9 %"),
        # GoogLeNet's side heads: two outputs and weighted losses in training, one at inference.
        "training model: 2 outputs ['main', 'aux'], loss = 1.0 × loss[main] + 0.3 × loss[aux]",
        "inference model: 1 output; the side head's 17,626 parameters are left out",
        # Degradation: the same 31 layers with and without shortcuts, and a 9-layer plain net, trained.
        re.compile(r"shallow plain\s+9 conv layers,\s+19,322 parameters"),
        re.compile(r"deep plain\s+31 conv layers,\s+71,418 parameters"),
        re.compile(r"deep residual\s+31 conv layers,\s+71,418 parameters"),
        re.compile(r"deep residual\s+trained in\s+[\d.]+ s; training loss per epoch: \d+\.\d{3}"),
        re.compile(r"(degradation: the deeper plain net ends with higher training loss|"
                   r"no degradation in this run: the deeper plain net ends at) \d+\.\d{3}"),
        # The ILSVRC timeline: each figure with its setting (all on the test set).
        re.compile(r"2012\s+SuperVision \(AlexNet\)\s+15\.30 %\s+7 networks\s+yes"),
        re.compile(r"2012\s+SuperVision \(AlexNet\)\s+16\.40 %\s+5 networks\s+no"),
        re.compile(r"2013\s+Clarifai \(\"ZFNet\"\)\s+11\.70 %\s+several\s+no"),
        re.compile(r"2013\s+Clarifai \(\"ZFNet\"\)\s+11\.20 %\s+several\s+yes"),
        re.compile(r"2014\s+VGG, 2nd place\s+7\.30 %\s+7 networks\s+no"),
        re.compile(r"2014\s+VGG, after the challenge\s+6\.80 %\s+2 networks\s+no"),
        re.compile(r"2014\s+GoogLeNet, 1st place\s+6\.67 %\s+7 networks\s+no"),
        re.compile(r"2015\s+ResNet \(MSRA\), 1st place\s+3\.57 %\s+6 networks\s+no"),
        re.compile(r"human: one trained annotator\s+5\.10 %"),
        "2012 -> 2015: top-5 error 15.3 % -> 3.57 %, 4.3× lower in three years",
        "entries below the annotator's 5.1 %: ['ResNet (MSRA), 1st place 3.57 %']",
    ],
    "06-what-cnns-learn": [
        re.compile(r"test accuracy on [\d,]+ Fashion-MNIST test images: \d+\.\d\d%"),
        re.compile(r"sigmoid, Glorot init\s+21 conv layers, initial loss\s+[\d.]+, gradient norm: "
                   r"first layer\s+[\d.e+-]+"),
        "conv1 kernel shape (F, F, C_in, K): (3, 3, 1, 32)", "relu1: feature maps 26×26×32",
        re.compile(r"mean activation\s+-?[\d.]+ on the noise start ->\s+[\d.]+ on the generated image"),
        re.compile(r"relu3 mean squared activation [\d.]+ on the photo -> [\d.]+ on the dream"),
        # Receptive fields from the layer arithmetic, checked by the gradient's support.
        "conv2: output 11×11, each unit sees 8×8 input pixels, neighbours 2 px apart",
        "conv3: output 3×3, each unit sees 18×18 input pixels, neighbours 4 px apart; "
        "the units together cover input rows 0–25",
        "conv2 unit (5, 5), channel 0: receptive field 8×8, rows 10–17, columns 10–17",
        "conv3 unit (1, 1), channel 0: receptive field 18×18, rows 4–21, columns 4–21",
        re.compile(r"nonzero at rows 10–17, columns 10–17; pixels outside the rectangle with a "
                   r"nonzero gradient: 0; matches the arithmetic: True"),
        re.compile(r"nonzero at rows 4–21, columns 4–21; pixels outside the rectangle with a "
                   r"nonzero gradient: 0; matches the arithmetic: True"),
        # Grad-CAM: one map per image, nonnegative, each scaled to a maximum of 1.
        re.compile(r"Grad-CAM on relu3: maps \(8, 3, 3\), values [\d.]+ to 1\.000, nonnegative: True, "
                   r"each scaled to a maximum of 1: True"),
        re.compile(r"Grad-CAM on relu2: maps \(8, 11, 11\), values [\d.]+ to 1\.000, nonnegative: True, "
                   r"each scaled to a maximum of 1: True"),
        re.compile(r"Grad-CAM \(relu2\) heat on the garment's pixels: \d+% on average; "
                   r"the garment covers \d+% of the image"),
    ],
    "07-beyond-classification": [
        "input shape (28, 28, 1) -> output shape (28, 28, 1)",
        re.compile(r"U-Net\s+on 1,000 test images: pixel accuracy \d+\.\d\d%, stroke IoU 0\.\d+"),
        "a 2×2 kernel from 64 to 32 channels: (2·2·64)·32 + 32 = 8,224 parameters",
        "feature maps equal after shuffling positions: False",
        "Gram matrices equal after shuffling positions: True",
        "three strongest responses at [60, 190, 310]; the motif starts at [60, 190, 310]",
    ],
}


def _cells(name: str) -> list[dict]:
    return json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_one_notebook_per_topic_in_order():
    assert sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb")) == ORDER
    assert sorted(FACTS) == sorted(ORDER), "each notebook lists the facts it must print"


@pytest.mark.parametrize("name", ORDER)
def test_committed_without_outputs(name):
    """No cell holds an output or an execution count."""
    dirty = [index for index, cell in enumerate(_cells(name))
             if cell.get("outputs") or cell.get("execution_count")]
    assert dirty == [], f"notebooks/{name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("name", ORDER)
def test_opens_with_title_objectives_time_and_one_setup_cell(name):
    """Title (under its Open-in-Colab badge), objectives and time first; then the setup cell.

    The Colab-only cell that `cnnkit course stamp` puts after the title is not the setup cell
    (tests/test_colab.py checks it); the first code cell after it imports cnnkit first.
    """
    cells = _cells(name)
    opening = _source(cells[0])
    assert cells[0]["cell_type"] == "markdown"
    badge, _, title = opening.partition("\n\n")
    assert badge.startswith("[![Open In Colab]"), "the first line is the Open-in-Colab badge"
    assert title.startswith(f"# {name[:2]} — ")
    assert "You will learn" in opening and "**Time:**" in opening
    code = [cell for cell in cells
            if cell["cell_type"] == "code" and not _source(cell).startswith("# Colab only:")]
    assert _source(code[0]).startswith("import cnnkit"), "the setup cell imports cnnkit first"
    assert sum("import cnnkit" in _source(cell) for cell in code) == 1, "one setup cell"


@pytest.mark.slow
@pytest.mark.parametrize("name", ORDER)
def test_executes_in_the_smoke_profile_and_prints_its_facts(name, tmp_path, request):
    """The whole notebook runs without an error and prints every fact. Its wall time is recorded
    against a budget of two minutes (tests/timings.py: over budget warns, it does not fail)."""
    for dataset in NOTEBOOK_NEEDS[name].datasets:  # CI has them; elsewhere the run is skipped
        request.getfixturevalue(f"real_{dataset}")
    notebook = Path(shutil.copy(NOTEBOOKS / f"{name}.ipynb", tmp_path))
    seconds, errors = execute(notebook, "smoke", timeout=SMOKE_BUDGET_SECONDS)
    record_timing(seconds, SMOKE_BUDGET_SECONDS)  # labelled with the test's node id
    assert errors == []
    printed = "\n".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "")
        for cell in nbformat.read(notebook, as_version=4).cells for output in cell.get("outputs", []))
    missing = [getattr(fact, "pattern", fact) for fact in FACTS[name]
               if not (fact.search(printed) if isinstance(fact, re.Pattern) else fact in printed)]
    assert missing == [], f"{name} no longer prints: {missing}"
