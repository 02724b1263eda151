"""Reading files nobody vetted: regular files only, bounded reads, bounded JSON.

Every file rnntui reads (a corpus, a text to score, a prime, a checkpoint, a token cache's JSON) is
opened through ``open_regular``: after following symlinks it must be a regular file, so a named pipe
cannot make a command wait forever and ``/dev/zero`` cannot feed it without end. The check is made
on the opened descriptor (opened non-blocking, so even a pipe returns at once), not on the name, so
nothing can be swapped in between the check and the read.

JSON (checkpoint metadata, the token cache's record) is parsed only after its size is bounded and
its nesting depth counted without recursion, so no input reaches the parser's recursion limit.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np

MAX_JSON_DEPTH = 64  # rnntui writes at most 4 levels; anything deeper is not ours
_STEP = np.zeros(256, np.int8)  # what each byte does to the nesting depth
_STEP[list(b"[{")], _STEP[list(b"]}")] = 1, -1


class NotRegularFileError(ValueError):
    """A path that is not a regular file (a pipe, a device, a socket, a directory)."""


_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}  # fmt: skip


def open_regular(path: str | Path) -> BinaryIO:
    """``open(path, "rb")`` for a regular file (symlinks followed); NotRegularFileError for anything else,
    whose message names what it is. FileNotFoundError and other OSErrors pass through."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise NotRegularFileError(f"{path}: is {kind}; rnntui reads only regular files")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (ValueError naming both sizes if it is
    larger; it is never read past ``limit + 1`` bytes, even if it grows meanwhile)."""
    with open_regular(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: larger than the {limit:,} bytes allowed here")
    return data


def json_depth(data: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON text, brackets inside strings left out,
    counted without recursion (vectorised: a running sum of +1 per opening, -1 per closing)."""
    code = np.frombuffer(data, np.uint8)
    quotes = code == 0x22
    slashes = np.flatnonzero(code == 0x5C)
    if slashes.size:  # a quote right after an odd run of backslashes is escaped, not the string's end
        cuts = np.flatnonzero(np.diff(slashes) != 1)
        starts, ends = np.r_[slashes[0], slashes[cuts + 1]], np.r_[slashes[cuts], slashes[-1]]
        after_odd = ends[(ends - starts) % 2 == 0] + 1
        quotes[after_odd[after_odd < len(code)]] = False
    outside = (np.cumsum(quotes.view(np.uint8), dtype=np.uint8) & 1) == 0  # False inside a string (mod 256
    # keeps the parity); int32 holds any depth, as metadata is bounded far below 2 GB
    return int(np.cumsum(_STEP[code] * outside, dtype=np.int32).max(initial=0))


def parse_json(data: bytes, max_depth: int = MAX_JSON_DEPTH):
    """``json.loads`` of UTF-8 bytes whose nesting is at most ``max_depth``; ValueError otherwise
    (bad UTF-8, bad JSON, too deep) with a short reason."""
    if json_depth(data) > max_depth:
        raise ValueError(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except RecursionError:  # not reachable below max_depth; kept so no input ever escapes as one
        raise ValueError(f"nested more than {max_depth} levels deep") from None
