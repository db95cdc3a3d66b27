"""Advection-diffusion transport to sensor series: exact adjoint, response matrix, physics, errors."""

from __future__ import annotations

import pytest
import torch

from inverselab.errors import InputError
from inverselab.operators import AdvectionDiffusion2D, dottest

SENSORS = torch.tensor([[700.0, 500.0], [400.0, 300.0], [900.0, 900.0]], dtype=torch.float64)


def transport(**kw) -> AdvectionDiffusion2D:
    args = dict(shape=(24, 24), extent=(1000.0, 1000.0), sensors=SENSORS, wind=(1.0, 0.2), diffusivity=10.0,
                duration=600.0, sample_every=30.0)
    return AdvectionDiffusion2D(**{**args, **kw})


def test_adjoint_is_exact_in_float64():
    assert dottest(transport()) < 1e-12
    assert dottest(transport(wind=(-1.3, 0.8), diffusivity=0.0)) < 1e-12


def test_response_matrix_equals_the_forward_map():
    op = transport()
    x = torch.rand(3, 1, 24, 24, dtype=torch.float64)
    matrix = op.response()
    assert matrix.shape == (3 * 20, 24 * 24)
    y = op(x).reshape(3, -1)
    assert torch.allclose(x.reshape(3, -1) @ matrix.T, y, rtol=1e-12, atol=1e-15)


def test_a_puff_drifts_downwind_and_stays_nonnegative():
    op = transport(wind=(1.0, 0.0))
    puff = torch.zeros(1, 1, 24, 24, dtype=torch.float64)
    puff[0, 0, 12, 7] = 1.0  # cell centre at x = 312.5 m, y = 520.8 m
    y = op(puff)[0]
    assert (y >= 0).all()
    # sensor 0 at x = 700 m, ~390 m downwind: its peak arrives after about 390 s at 1 m/s
    peak = int(y[0].argmax()) + 1
    assert 270 <= peak * 30 <= 510
    assert y[1].max() < 0.01 * y[0].max()  # sensor 1 (x = 400 m, 220 m off the plume line) sees little


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="stability limit"):
        transport(dt=30.0)
    with pytest.raises(InputError, match="inside"):
        transport(sensors=torch.tensor([[1200.0, 10.0]]))
    with pytest.raises(InputError, match="whole number"):
        transport(duration=605.0)
    with pytest.raises(InputError, match="shape"):
        transport()(torch.zeros(1, 24, 24))
