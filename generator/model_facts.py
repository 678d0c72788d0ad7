"""Facts about each ``keras.applications`` constructor that introspection cannot give.

This module is a plain table: it never computes. ``registry.py`` joins it to what it finds
by introspecting ``keras.applications``.

Sources
-------
* ``top1``, ``top5`` (ImageNet validation accuracy, percent) and ``params`` (parameter count
  with the classifier, in **millions**, rounded as published) are copied from the
  "Available models" table of the Keras documentation, https://keras.io/api/applications/
  (page as published for Keras 3; the ConvNeXt rows were added there after the
  EfficientNetV2 rows). Values that table does not give are ``None``, never estimated:
  the table has no row for MobileNetV3Small / MobileNetV3Large (so all three are ``None``)
  and shows "-" for the top-5 accuracy of every ConvNeXt.
* Paper titles and arXiv links are the references cited in the Keras source docstrings
  (``keras/src/applications/*.py``). ``year`` is the year the paper first appeared on arXiv,
  read from its arXiv identifier (e.g. 1512.03385 -> 2015), so it is unambiguous even where
  the conference year differs.
* ``input_size`` is the default square input side of each constructor's ImageNet weights
  (``default_size`` in the Keras source). MobileNetV3 accepts any size; 224 is the size
  its ImageNet weights were trained at.
* ``module`` is the public Keras module whose ``preprocess_input`` applies to the model.
* ``gradcam_layer`` names the layer Grad-CAM should target when the automatic choice
  (``generator/methods/layers.py``) is wrong for a model; ``None`` means automatic.
"""

from typing import NamedTuple


class Paper(NamedTuple):
    title: str
    url: str  # arXiv abstract page
    year: int  # first arXiv version


class ModelFacts(NamedTuple):
    family: str  # a key of PAPERS
    input_size: int  # square side in pixels
    module: str  # public module holding the matching preprocess_input
    top1: float | None  # percent, keras.io table
    top5: float | None  # percent, keras.io table
    params: float | None  # millions, keras.io table
    gradcam_layer: str | None = None  # None = automatic choice


PAPERS: dict[str, Paper] = {
    "VGG": Paper(
        "Very Deep Convolutional Networks for Large-Scale Image Recognition",
        "https://arxiv.org/abs/1409.1556",
        2014,
    ),
    "ResNet": Paper(
        "Deep Residual Learning for Image Recognition",
        "https://arxiv.org/abs/1512.03385",
        2015,
    ),
    "ResNetV2": Paper(
        "Identity Mappings in Deep Residual Networks",
        "https://arxiv.org/abs/1603.05027",
        2016,
    ),
    "Inception": Paper(
        "Rethinking the Inception Architecture for Computer Vision",
        "https://arxiv.org/abs/1512.00567",
        2015,
    ),
    "InceptionResNet": Paper(
        "Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
        "https://arxiv.org/abs/1602.07261",
        2016,
    ),
    "Xception": Paper(
        "Xception: Deep Learning with Depthwise Separable Convolutions",
        "https://arxiv.org/abs/1610.02357",
        2016,
    ),
    "MobileNet": Paper(
        "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
        "https://arxiv.org/abs/1704.04861",
        2017,
    ),
    "MobileNetV2": Paper(
        "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
        "https://arxiv.org/abs/1801.04381",
        2018,
    ),
    "MobileNetV3": Paper(
        "Searching for MobileNetV3",
        "https://arxiv.org/abs/1905.02244",
        2019,
    ),
    "DenseNet": Paper(
        "Densely Connected Convolutional Networks",
        "https://arxiv.org/abs/1608.06993",
        2016,
    ),
    "NASNet": Paper(
        "Learning Transferable Architectures for Scalable Image Recognition",
        "https://arxiv.org/abs/1707.07012",
        2017,
    ),
    "EfficientNet": Paper(
        "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
        "https://arxiv.org/abs/1905.11946",
        2019,
    ),
    "EfficientNetV2": Paper(
        "EfficientNetV2: Smaller Models and Faster Training",
        "https://arxiv.org/abs/2104.00298",
        2021,
    ),
    "ConvNeXt": Paper(
        "A ConvNet for the 2020s",
        "https://arxiv.org/abs/2201.03545",
        2022,
    ),
}

_APPS = "keras.applications."

# fmt: off
MODEL_FACTS: dict[str, ModelFacts] = {
    # name                          family             size  module                             top1  top5  params
    "Xception":          ModelFacts("Xception",        299, _APPS + "xception",            79.0, 94.5, 22.9),
    "VGG16":             ModelFacts("VGG",             224, _APPS + "vgg16",               71.3, 90.1, 138.4),
    "VGG19":             ModelFacts("VGG",             224, _APPS + "vgg19",               71.3, 90.0, 143.7),
    "ResNet50":          ModelFacts("ResNet",          224, _APPS + "resnet",              74.9, 92.1, 25.6),
    "ResNet101":         ModelFacts("ResNet",          224, _APPS + "resnet",              76.4, 92.8, 44.7),
    "ResNet152":         ModelFacts("ResNet",          224, _APPS + "resnet",              76.6, 93.1, 60.4),
    "ResNet50V2":        ModelFacts("ResNetV2",        224, _APPS + "resnet_v2",           76.0, 93.0, 25.6),
    "ResNet101V2":       ModelFacts("ResNetV2",        224, _APPS + "resnet_v2",           77.2, 93.8, 44.7),
    "ResNet152V2":       ModelFacts("ResNetV2",        224, _APPS + "resnet_v2",           78.0, 94.2, 60.4),
    "InceptionV3":       ModelFacts("Inception",       299, _APPS + "inception_v3",        77.9, 93.7, 23.9),
    "InceptionResNetV2": ModelFacts("InceptionResNet", 299, _APPS + "inception_resnet_v2", 80.3, 95.3, 55.9),
    "MobileNet":         ModelFacts("MobileNet",       224, _APPS + "mobilenet",           70.4, 89.5, 4.3),
    "MobileNetV2":       ModelFacts("MobileNetV2",     224, _APPS + "mobilenet_v2",        71.3, 90.1, 3.5),
    "MobileNetV3Small":  ModelFacts("MobileNetV3",     224, _APPS + "mobilenet_v3",        None, None, None),
    "MobileNetV3Large":  ModelFacts("MobileNetV3",     224, _APPS + "mobilenet_v3",        None, None, None),
    "DenseNet121":       ModelFacts("DenseNet",        224, _APPS + "densenet",            75.0, 92.3, 8.1),
    "DenseNet169":       ModelFacts("DenseNet",        224, _APPS + "densenet",            76.2, 93.2, 14.3),
    "DenseNet201":       ModelFacts("DenseNet",        224, _APPS + "densenet",            77.3, 93.6, 20.2),
    "NASNetMobile":      ModelFacts("NASNet",          224, _APPS + "nasnet",              74.4, 91.9, 5.3),
    "NASNetLarge":       ModelFacts("NASNet",          331, _APPS + "nasnet",              82.5, 96.0, 88.9),
    "EfficientNetB0":    ModelFacts("EfficientNet",    224, _APPS + "efficientnet",        77.1, 93.3, 5.3),
    "EfficientNetB1":    ModelFacts("EfficientNet",    240, _APPS + "efficientnet",        79.1, 94.4, 7.9),
    "EfficientNetB2":    ModelFacts("EfficientNet",    260, _APPS + "efficientnet",        80.1, 94.9, 9.2),
    "EfficientNetB3":    ModelFacts("EfficientNet",    300, _APPS + "efficientnet",        81.6, 95.7, 12.3),
    "EfficientNetB4":    ModelFacts("EfficientNet",    380, _APPS + "efficientnet",        82.9, 96.4, 19.5),
    "EfficientNetB5":    ModelFacts("EfficientNet",    456, _APPS + "efficientnet",        83.6, 96.7, 30.6),
    "EfficientNetB6":    ModelFacts("EfficientNet",    528, _APPS + "efficientnet",        84.0, 96.8, 43.3),
    "EfficientNetB7":    ModelFacts("EfficientNet",    600, _APPS + "efficientnet",        84.3, 97.0, 66.7),
    "EfficientNetV2B0":  ModelFacts("EfficientNetV2",  224, _APPS + "efficientnet_v2",     78.7, 94.3, 7.2),
    "EfficientNetV2B1":  ModelFacts("EfficientNetV2",  240, _APPS + "efficientnet_v2",     79.8, 95.0, 8.2),
    "EfficientNetV2B2":  ModelFacts("EfficientNetV2",  260, _APPS + "efficientnet_v2",     80.5, 95.1, 10.2),
    "EfficientNetV2B3":  ModelFacts("EfficientNetV2",  300, _APPS + "efficientnet_v2",     82.0, 95.8, 14.5),
    "EfficientNetV2S":   ModelFacts("EfficientNetV2",  384, _APPS + "efficientnet_v2",     83.9, 96.7, 21.6),
    "EfficientNetV2M":   ModelFacts("EfficientNetV2",  480, _APPS + "efficientnet_v2",     85.3, 97.4, 54.4),
    "EfficientNetV2L":   ModelFacts("EfficientNetV2",  480, _APPS + "efficientnet_v2",     85.7, 97.5, 119.0),
    "ConvNeXtTiny":      ModelFacts("ConvNeXt",        224, _APPS + "convnext",            81.3, None, 28.6),
    "ConvNeXtSmall":     ModelFacts("ConvNeXt",        224, _APPS + "convnext",            82.3, None, 50.2),
    "ConvNeXtBase":      ModelFacts("ConvNeXt",        224, _APPS + "convnext",            85.3, None, 88.5),
    "ConvNeXtLarge":     ModelFacts("ConvNeXt",        224, _APPS + "convnext",            86.3, None, 197.7),
    "ConvNeXtXLarge":    ModelFacts("ConvNeXt",        224, _APPS + "convnext",            86.7, None, 350.1),
}
# fmt: on
