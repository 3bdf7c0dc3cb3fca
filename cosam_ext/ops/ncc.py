"""What NCC means in this library, written once for the ops' compositions
and the oracle (cosam_ext.reference): the epsilon, the normalisation and the
order of the other frames."""

__all__ = ["DEFAULT_EPS", "other_frames", "normalise"]

#: The authors' epsilon, added to the standard deviation (not the variance).
DEFAULT_EPS = 1e-4


def other_frames(num_frames):
    """Slot order of each frame: the other frames ascending, skipping itself."""
    return [[m for m in range(num_frames) if m != n] for n in range(num_frames)]


def normalise(t, dim, eps):
    """(t - mean) / (unbiased std + eps) along dim: the NCC normalisation."""
    t = t - t.mean(dim=dim, keepdim=True)
    return t / (t.std(dim=dim, keepdim=True) + eps)
