"""File names as one printable line, for the terminal and every message that names a file.

A file name on a POSIX system is any bytes but `/` and NUL: Python hands bytes that are not
UTF-8 over as lone surrogates (`\\udcff`), which no terminal encoding accepts (writing one
crashes the writer), and a newline or an escape sequence in a name would break the progress
bar's line or drive the terminal. So those, and only those, are escaped; letters of any script
(é, 猫) stay as they are, so a name stays readable.
"""

from __future__ import annotations

import os

# Python's file-system decoding turns an undecodable byte 0xNN into the lone surrogate U+DCNN.
_ESCAPED_BYTES = range(0xDC80, 0xDD00)


def printable(name: str | os.PathLike[str]) -> str:
    """`name` with undecodable bytes as `\\xNN` and control or invisible characters escaped as
    Python would (`\\n`, `\\x1b`, `\\u202e`); every other character unchanged."""
    return "".join(_shown(character) for character in os.fspath(name))


def _shown(character: str) -> str:
    if ord(character) in _ESCAPED_BYTES:
        return f"\\x{ord(character) - 0xDC00:02x}"
    if character.isprintable():
        return character
    return repr(character)[1:-1]
