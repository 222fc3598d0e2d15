"""Swaps two directories in one step (Linux renameat2 RENAME_EXCHANGE), so a reader of either path
sees the old tree or the new one, never a missing or half-written one. Used by
build-labextension.sh to put a fresh build where running labs and browser tests read it.
Falls back to two renames (a moment without the path) where the kernel or filesystem cannot.
Usage: python scripts/exchange_dirs.py NEW CURRENT  (afterwards NEW holds the old tree)."""

from __future__ import annotations

import ctypes
import os
import sys

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def exchange(a: str, b: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    exchanged = (
        renameat2 is not None
        and os.path.exists(b)
        and renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) == 0
    )
    if exchanged:
        return
    parked = f"{a}.parked"
    if os.path.exists(b):
        os.rename(b, parked)
    os.rename(a, b)
    if os.path.exists(parked):
        os.rename(parked, a)


if __name__ == "__main__":
    exchange(sys.argv[1], sys.argv[2])
