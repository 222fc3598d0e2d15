"""Memory settings of the serving process: glibc malloc's for a server that streams large
request bodies, and Python's collector's for a heap that is mostly built at startup.

Tornado reads a streamed body into a fresh 1 MiB buffer per read and copies each chunk out, and
an upload keeps about 16 MiB of chunks in flight between the socket, the hashing thread and the
store's writer. With glibc's default, adaptive thresholds, the freed top of the heap is handed
back to the kernel whenever more than about twice the largest recent allocation is free, so the
same memory is returned and faulted in again all the time: about 50,000 page faults per 512 MiB
upload, each a few microseconds on the issue-10 VM. Keeping up to ``TRIM_THRESHOLD`` of freed
memory (and serving allocations below ``MMAP_THRESHOLD`` from the heap) took the faults to
about none and the backend's CPU per 512 MiB upload from 0.94 s to 0.81 s (median of 8
alternating uploads to two backends, one with these settings through glibc's environment).

The cost is that up to ``TRIM_THRESHOLD`` of freed memory stays with the process. Settings
given through glibc's own environment variables (``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_MMAP_THRESHOLD_``) are left as they are. Other C libraries: nothing is changed.

Python's cyclic collector walks every tracked object in a full collection: after startup
the backend holds about 200,000 (modules, SQLAlchemy's and pydantic's machinery, the
application), which nothing frees until exit. Under ``wrk`` a full collection ran about every
ten seconds and held the event loop for 117 ms, every request in flight waiting behind it.
:func:`freeze_startup_heap` moves that heap out of the collector's sight (``gc.freeze``,
as Instagram's and CPython's documentation describe for long-running servers): the same full
collection then took about 1 ms. Objects made later are collected as before.
"""

from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Mapping

#: mallopt(3) parameters
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

TRIM_THRESHOLD = 64 << 20
MMAP_THRESHOLD = 8 << 20

_SETTINGS = (
    ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, MMAP_THRESHOLD),
)


def keep_freed_memory(environ: Mapping[str, str] | None = None) -> list[str]:
    """Apply the settings above; returns the names of those applied (none off glibc)."""
    env = os.environ if environ is None else environ
    try:
        mallopt = ctypes.CDLL(None).mallopt
        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018 - glibc, not a look-alike
    except (AttributeError, OSError):
        return []
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = []
    for variable, parameter, value in _SETTINGS:
        if variable not in env and mallopt(parameter, value) == 1:
            applied.append(variable.strip("_"))
    return applied


def freeze_startup_heap() -> int:
    """Collect the startup's garbage, then freeze what is left (see above); returns how
    many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
