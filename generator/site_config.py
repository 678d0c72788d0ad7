"""What the pages need from the project's `mkdocs.yml`: the address the site is published at."""

from __future__ import annotations

from pathlib import Path

import yaml

# Its `site_url` is the address every page's citation gives.
MKDOCS_CONFIG_PATH = Path(__file__).resolve().parent.parent / "mkdocs.yml"


class _ConfigLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, which may hold tags (`!ENV`, `!!python/name:`) safe_load refuses."""


_ConfigLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def read_site_url() -> str:
    """The `site_url` of mkdocs.yml: where the site is published, hence what pages are cited by."""
    config = yaml.load(MKDOCS_CONFIG_PATH.read_text(encoding="utf-8"), Loader=_ConfigLoader)
    url = (config or {}).get("site_url")
    if not url:
        raise ValueError(
            f"{MKDOCS_CONFIG_PATH} has no site_url: set it to the address the site is published "
            "at, because every page's citation gives it"
        )
    return str(url)
