"""FBP's compiled pixel-driven back-projection against the two other implementations of the same
weights (the stored matrix and ``grid_sample``), its exact transpose and its gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inverselab.operators import FanBeam2D, ParallelBeam2D
from inverselab.operators.tomography import fbp


OPERATORS = {
    "parallel": lambda: ParallelBeam2D(40, np.linspace(0, np.pi, 33, endpoint=False), detector_offset=0.7),
    "parallel-irregular": lambda: ParallelBeam2D((24, 40), np.sort(np.random.default_rng(0).uniform(0, np.pi, 20))),
    "fan": lambda: FanBeam2D(36, 45, detector_offset=-1.3),
    "fan-short": lambda: FanBeam2D(32, np.linspace(0, 0.7 * np.pi, 30)),
}


@pytest.fixture(params=list(OPERATORS))
def op(request):
    """A fresh operator whose FBP back-projects matrix-free (the compiled kernel on CPU)."""
    op = OPERATORS[request.param]()
    op.fbp_storage = "matrix-free"
    return op


def _filtered(op, batch: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(batch, *op.range_shape[1:], generator=g, dtype=dtype)


def test_compiled_equals_matrix_and_grid(op):
    f = _filtered(op, 3)
    compiled = op._weighted_backprojection(f)
    grid = op._grid_backprojection(f)
    op.fbp_storage = "matrix"
    matrix = op._weighted_backprojection(f.float()).double()
    scale = grid.abs().max()
    assert (compiled - grid).abs().max() < 1e-12 * scale
    assert (compiled - matrix).abs().max() < 1e-5 * scale  # the stored matrix holds float32


def test_transpose_is_exact(op):
    f = _filtered(op, 2).requires_grad_(True)
    out = op._weighted_backprojection(f)
    g = torch.randn_like(out)
    (grad,) = torch.autograd.grad((out * g).sum(), f)
    lhs, rhs = (out * g).sum().item(), (grad * f).sum().item()
    assert abs(lhs - rhs) < 1e-12 * abs(lhs)
    (grid_grad,) = torch.autograd.grad((op._grid_backprojection(f) * g).sum(), f)
    assert torch.allclose(grad, grid_grad, rtol=0, atol=1e-12 * grid_grad.abs().max())


def test_float32_and_threads_do_not_change_the_result(op):
    f = _filtered(op, 2)
    reference = op._weighted_backprojection(f)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = op._weighted_backprojection(f.float())
    finally:
        torch.set_num_threads(threads)
    assert one.dtype == torch.float32
    assert (one.double() - reference).abs().max() < 1e-6 * reference.abs().max()


def test_fbp_reconstructs_a_disc():
    op = ParallelBeam2D(64, np.linspace(0, np.pi, 96, endpoint=False))
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    disc = (((xx - 28) ** 2 + (yy - 35) ** 2) < 15**2).double()[None, None]
    op.fbp_storage = "matrix-free"
    x = fbp(op, op(disc), "ramp")
    inside = (((xx - 28) ** 2 + (yy - 35) ** 2) < 12**2)[None, None]
    assert (x[inside] - 1).abs().mean() < 0.02
    assert x[~(((xx - 28) ** 2 + (yy - 35) ** 2) < 18**2)[None, None]].abs().mean() < 0.02
