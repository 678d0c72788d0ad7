"""The publication a method comes from (TensorFlow-free, so the page records can carry it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    """The publication a method comes from, as the methods page cites it."""

    authors: str
    year: int
    title: str
    venue: str
    url: str
