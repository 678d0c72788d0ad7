"""Shared test set-up: quiet TensorFlow; start the architecture checks' processes early."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected what will not run
def pytest_collection_modifyitems(items: list) -> None:
    """Start the processes of the selected per-architecture tests now and run those tests last.

    The rest of the suite keeps about one of the two cores busy (builds in child processes,
    single-threaded Python), so the architecture processes (tests/archkit.py) work beside it,
    and the tests that only read their outcomes wait at the end instead of in the middle.
    """
    import archkit

    items.sort(key=lambda item: item.get_closest_marker("per_architecture") is not None)
    archkit.start(
        item.callspec.params["name"]
        for item in items
        if item.get_closest_marker("per_architecture") is not None
    )


def pytest_sessionfinish() -> None:
    import archkit

    archkit.stop()
