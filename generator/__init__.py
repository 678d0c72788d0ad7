"""CNN Gallery: a static, citable website of how keras.applications CNNs see images."""

__version__ = "0.1.0"
