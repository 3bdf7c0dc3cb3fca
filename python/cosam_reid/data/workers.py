"""How many frame-loading processes a DataLoader gets."""
import os


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity where the OS has
    one (as torch's DataLoader counts them), else the machine's cores."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def loader_workers(requested: int) -> int:
    """requested, capped at the cores available: more loader processes than
    cores only compete with the model (and torch warns once per loader)."""
    return min(requested, available_cores())
