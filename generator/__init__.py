"""CNN Gallery: a static, citable website of how keras.applications CNNs see images."""

__version__ = "0.1.0"
# The day this version was released: the date pages give for citation, never the build clock, so
# rebuilding a release gives byte-identical pages. Change it together with __version__.
__release_date__ = "2026-11-26"
