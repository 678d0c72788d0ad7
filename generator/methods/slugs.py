"""The slugs of `catalog.METHODS`, in its order, for code that must not import TensorFlow.

The command line checks `--methods` before loading TensorFlow (it takes seconds), and the
catalog imports it through the methods. tests/test_cli.py keeps this list equal to the
catalog's: a method added to the catalog is added here too.
"""

SLUGS: tuple[str, ...] = (
    "grad-cam",
    "guided-grad-cam",
    "grad-cam-plus-plus",
    "layer-cam",
    "score-cam",
    "guided-backprop",
    "deconvnet",
    "saliency",
    "gradient-x-input",
    "integrated-gradients",
    "smoothgrad",
    "smoothgrad-guided",
    "occlusion",
)
