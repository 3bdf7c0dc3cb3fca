"""The oracle itself (cosam_ext.reference) against the semantics of docs/design.md
("What the layer computes"), written out element by element on tiny float64 inputs."""
import math

import pytest
import torch
import torch.nn.functional as F

from cosam_ext import reference


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def naive_normalise(x, eps):
    """Z[r][d][p] = (x - mean_D) / (unbiased std_D + eps), as nested lists."""
    rows, depth, height, width = x.shape
    values = x.reshape(rows, depth, height * width).tolist()
    z = [[[0.0] * (height * width) for _ in range(depth)] for _ in range(rows)]
    for r in range(rows):
        for p in range(height * width):
            column = [values[r][d][p] for d in range(depth)]
            mean = sum(column) / depth
            std = math.sqrt(sum((v - mean) ** 2 for v in column) / (depth - 1))
            for d in range(depth):
                z[r][d][p] = (column[d] - mean) / (std + eps)
    return z


def naive_cost_volume(x, num_frames, eps):
    """output[b*N+n, s*P+q, h, w] = (1/D) sum_d Z[b*N+n, d, h*W+w] Z[b*N+m, d, q],
    m = s if s < n else s + 1."""
    rows, depth, height, width = x.shape
    positions = height * width
    z = naive_normalise(x, eps)
    out = torch.empty(rows, (num_frames - 1) * positions, height, width, dtype=torch.float64)
    for row in range(rows):
        b, n = divmod(row, num_frames)
        for s in range(num_frames - 1):
            other = b * num_frames + (s if s < n else s + 1)
            for q in range(positions):
                for h in range(height):
                    for w in range(width):
                        p = h * width + w
                        total = sum(z[row][d][p] * z[other][d][q] for d in range(depth))
                        out[row, s * positions + q, h, w] = total / depth
    return out


# (B, N, D, H, W): H != W, N = 2 and N = 5, odd D, a 1x1 map.
SHAPES = [(2, 2, 3, 2, 3), (1, 5, 5, 3, 2), (2, 3, 4, 1, 1), (1, 4, 7, 2, 2)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("eps", [1e-4, 0.3])
def test_cost_volume_matches_naive_loop(shape, eps):
    clips, num_frames, depth, height, width = shape
    x = torch.randn(clips * num_frames, depth, height, width, dtype=torch.float64)
    actual = reference.ncc_cost_volume(x, num_frames, eps)
    torch.testing.assert_close(actual, naive_cost_volume(x, num_frames, eps), rtol=1e-10, atol=1e-10)


def test_constant_position_gives_zero():
    """A position whose D values are all equal has std 0: the eps keeps its NCC values 0."""
    x = torch.randn(3, 6, 2, 3, dtype=torch.float64)
    x[1, :, 0, 2] = 0.5  # frame 1, position p = 2 (mean exactly 0.5)
    volume = reference.ncc_cost_volume(x, 3)
    zero = torch.zeros_like(volume, dtype=torch.bool)
    zero[1, :, 0, 2] = True  # frame 1 as the own frame
    zero[0, 2] = True  # frame 1 in slot 0 of frame 0, q = 2
    zero[2, 6 + 2] = True  # frame 1 in slot 1 of frame 2, q = 2
    assert torch.equal(volume[zero], torch.zeros(int(zero.sum()), dtype=torch.float64))
    assert volume[~zero].ne(0).all() and torch.isfinite(volume).all()


@pytest.mark.parametrize("scale", [0.01, 1.0, 10.0])
@pytest.mark.parametrize("eps", [1e-4, 0.5])
def test_eps_is_added_to_the_unbiased_std(scale, eps):
    """Two 1x1 frames, both (a, -a): std = a*sqrt(2) (unbiased), so the single
    NCC value is a^2 / (a*sqrt(2) + eps)^2. eps added to the variance would give
    a^2 / (2a^2 + eps) and the biased std a^2 / (a + eps)^2."""
    x = torch.tensor([scale, -scale], dtype=torch.float64).view(1, 2, 1, 1).repeat(2, 1, 1, 1)
    volume = reference.ncc_cost_volume(x, 2, eps)
    expected = scale**2 / (scale * math.sqrt(2) + eps) ** 2
    torch.testing.assert_close(volume, torch.full((2, 1, 1, 1), expected, dtype=torch.float64))
    assert abs(expected - scale**2 / (2 * scale**2 + eps)) > 1e-6


@pytest.mark.parametrize("shape", SHAPES[:2], ids=str)
@pytest.mark.parametrize("weight_dims", [2, 4])
@pytest.mark.parametrize("with_bias", [True, False])
def test_summary_is_conv_of_the_volume(shape, weight_dims, with_bias):
    clips, num_frames, depth, height, width = shape
    x = torch.randn(clips * num_frames, depth, height, width, dtype=torch.float64)
    weight = torch.randn(5, (num_frames - 1) * height * width, dtype=torch.float64)
    bias = torch.randn(5, dtype=torch.float64) if with_bias else None
    shaped = weight if weight_dims == 2 else weight[:, :, None, None]
    actual = reference.ncc_summary(x, shaped, bias, num_frames)
    expected = F.conv2d(naive_cost_volume(x, num_frames, 1e-4), weight[:, :, None, None], bias)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


def test_other_frames():
    assert reference.other_frames(4) == [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]
    assert reference.other_frames(2) == [[1], [0]]


def _imports_the_oracle(path):
    """Whether the module at path imports cosam_ext.reference, in any form."""
    import ast

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.endswith("reference") or any(alias.name == "reference" for alias in node.names):
                return True
        elif isinstance(node, ast.Import) and any(alias.name.endswith(".reference") for alias in node.names):
            return True
    return False


def test_the_oracle_stays_out_of_the_product():
    # Its one product use is CosamLayer(implementation="reference"); the fused
    # ops and their export compositions never import it, so that a change to
    # the oracle cannot change what they compute or what users export.
    import pathlib

    import cosam_ext

    package = pathlib.Path(cosam_ext.__file__).parent
    importers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py") if _imports_the_oracle(p))
    assert importers == ["__init__.py", "layer.py"]
