"""Shared test set-up: quiet TensorFlow; tell archkit which architectures the run will check."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected what will not run
def pytest_collection_modifyitems(items: list) -> None:
    """Announce the architectures of the selected per-architecture tests, in run order, so their
    processes can start ahead of the tests that read them."""
    import archkit

    archkit.expect(
        item.callspec.params["name"]
        for item in items
        if item.get_closest_marker("per_architecture") is not None
    )
