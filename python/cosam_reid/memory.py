"""Freed CPU memory kept for the next tensor, where glibc would give it back.

glibc's malloc serves a block above its mmap threshold (128 KiB at first,
raised as blocks are freed, to 32 MiB at most) with a fresh mapping that it
unmaps on free, and gives the free top of its heap back to the kernel. Each
new feature map of that size then faults in and zeroes every page again: on
a 2-core AMD EPYC machine, allocating, filling and freeing 67 MB took 28 ms
with glibc's defaults and 2.8 ms with freed memory kept, and at COSAM_2's
shape the layer's own share of a forward+backward fell from 293 ms to 121 ms
(docs/benchmarks.md, "Memory allocator"). The `cosam-reid` command keeps
freed memory for reuse, as PyTorch's caching allocator does on the GPU: the
process holds on to its peak footprint until it ends. The library itself
never changes the allocator of a process that imports it.
"""
import ctypes
import os
import platform

#: Set to 0 to leave glibc's malloc as it is.
ENVIRONMENT = "COSAM_KEEP_FREED_MEMORY"

# mallopt parameters, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Larger than any block a step allocates: every block comes from the heap, which is never trimmed.
NEVER = 2**31 - 1

#: glibc's own variables for the same settings: where a user has set them, they stand.
GLIBC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Has glibc's malloc serve every block from its heap and never trim it,
    so that freed memory stays with the process for the next tensor of its
    size. Returns whether it did: not off glibc, not where COSAM_KEEP_FREED_MEMORY=0,
    and not where the user set glibc's malloc variables."""
    if os.environ.get(ENVIRONMENT, "1") == "0" or any(name in os.environ for name in GLIBC_SETTINGS):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the C library the process runs on
    return bool(libc.mallopt(M_MMAP_THRESHOLD, NEVER)) and bool(libc.mallopt(M_TRIM_THRESHOLD, NEVER))


def allocator_description(kept: bool) -> str:
    """How this process's malloc treats freed memory, in words, for the
    record of a measurement: kept is what keep_freed_memory() returned."""
    if kept:
        return "freed memory kept for reuse (cosam_reid.memory.keep_freed_memory)"
    settings = [f"{name}={os.environ[name]}" for name in GLIBC_SETTINGS if name in os.environ]
    return f"glibc's malloc with {', '.join(settings)}" if settings else "glibc's malloc as it is"
