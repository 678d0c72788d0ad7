"""The two built sites the pages' tests read, made once per session: with ImageNet and with
random weights (`pagekit.Built`).

A plugin, not a module to import: each `test_pages_*.py` that reads a site names it in
`pytest_plugins`, so every one of them shares the same two builds.
"""

import pytest
from pagekit import Built


@pytest.fixture(scope="session")
def imagenet_site(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("imagenet"), "imagenet")


@pytest.fixture(scope="session")
def random_site(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("random"), "random")
