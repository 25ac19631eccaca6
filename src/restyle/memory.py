"""Handing freed heap memory back to the operating system.

glibc's allocator keeps memory that tensors have freed inside the process, split into pieces
sized for the last scale's tensors; when the next, larger coarse-to-fine scale starts, most of
it does not fit, and the process's resident size grows by what it keeps. Trimming the heap once
per scale (not per step: that would page memory back in at every step) took the peak of one
default 500x500 run from about 1.2 GB to 0.92 GB at no measurable cost in time (the peak still
varies from run to run with the allocation history; see bench/README.md).

Within a step the same happens on a smaller scale: glibc serves blocks below its mmap threshold
(which it raises by itself up to 32 MiB) from the heap, and the step's activations of 4-32 MiB
(VGG19's middle blocks at half a megapixel) are cut from pieces of different sizes each time.
:func:`map_large_blocks` fixes the threshold at :data:`MMAP_THRESHOLD`, so those blocks are
mapped for their lifetime and go back to the system when freed: the peak of a 577x433 float32
step went from about 1.12 GB to 0.90 GB (see bench/README.md for the time it costs).
"""

from __future__ import annotations

import ctypes
import functools
import sys

#: Blocks of at least this many bytes get their own mapping (see :func:`map_large_blocks`).
MMAP_THRESHOLD = 4 << 20
#: glibc's ``mallopt`` parameter number for the mmap threshold.
_M_MMAP_THRESHOLD = -3


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, where it is glibc on Linux; else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return None
    return libc


@functools.cache
def map_large_blocks() -> bool:
    """Give every block of :data:`MMAP_THRESHOLD` bytes or more its own mapping, for the rest
    of the process (glibc only; elsewhere nothing). Called once by a run, never at import.

    Returns whether it could.
    """
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)


def release_free_memory() -> bool:
    """Give the heap's free memory back to the operating system, where the C library can.

    Returns whether it could (glibc on Linux); elsewhere this does nothing.
    """
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
