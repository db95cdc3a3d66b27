"""Full-waveform inversion on tiny 2-D models (deepwave operator)."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("deepwave")

from inverselab.errors import InputError  # noqa: E402
from inverselab.operators.acoustic import AcousticWave2D  # noqa: E402
from inverselab.solvers.fwi import fwi  # noqa: E402

NZ, NX, DX = 30, 40, 10.0


def crosswell(**kwargs) -> AcousticWave2D:
    """Sources down the left edge, receivers down the right edge and along the top."""
    receivers = [(iz, NX - 3) for iz in range(0, NZ, 2)] + [(1, ix) for ix in range(0, NX - 4, 2)]
    return AcousticWave2D((NZ, NX), DX, 1e-3, 300, [(5, 2), (15, 2), (25, 2)], receivers, 15.0,
                          absorbing=10, max_velocity=2600.0, **kwargs)


def models() -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.arange(NZ, dtype=torch.float64)[:, None]
    x = torch.arange(NX, dtype=torch.float64)[None]
    v0 = torch.full((1, NZ, NX), 2000.0, dtype=torch.float64)
    truth = v0 + 200 * torch.exp(-((z - 15) ** 2 + (x - 20) ** 2) / 30)
    return v0, truth


def test_fwi_reduces_the_model_error():
    op = crosswell()
    v0, truth = models()
    observed = op(truth)
    v, hist = fwi(op, observed, v0, frequencies=(8.0, None), iters_per_band=(5, 10), bounds=(1500, 2500),
                  truth=truth, progress=False)
    assert hist.iterations == 15 and len(hist.model_error) == 15 and len(hist.objective) == 15
    assert hist.model_error[-1] < 0.6 * hist.model_error_initial  # 0.51 measured
    assert hist.bands[-1]["misfit_end"] < 0.3 * hist.bands[-1]["misfit_start"]
    assert float(v.min()) > 1500 and float(v.max()) < 2500


def test_fwi_adam_minibatches_bounds_and_fixed_rows():
    op = crosswell()
    v0, truth = models()
    observed = op(truth)
    v, hist = fwi(op, observed, v0, optimizer="adam", lr=0.1, iters_per_band=12, shots_per_batch=2,
                  bounds=(1900, 2150), fixed=4, reg="smoothness", lam=1e-4, depth_weight=0.5, truth=truth,
                  progress=True, seed=1)
    assert hist.iterations == 12 and hist.bands[0]["evaluations"] >= 12
    assert hist.model_error[-1] < hist.model_error_initial
    assert torch.equal(v[:, :4], v0[:, :4])  # the fixed rows
    assert float(v.min()) > 1900 and float(v.max()) < 2150  # the bounds (the truth reaches 2200)


def test_fwi_rejects_bad_settings():
    op = crosswell()
    v0, truth = models()
    observed = op(truth)
    with pytest.raises(InputError, match="adam"):
        fwi(op, observed, v0, shots_per_batch=2, progress=False)
    with pytest.raises(InputError, match="inside bounds"):
        fwi(op, observed, v0, bounds=(2100, 2500), progress=False)
    with pytest.raises(InputError, match="max_velocity"):
        fwi(op, observed, v0, bounds=(1500, 3000), progress=False)
    with pytest.raises(InputError, match="iters_per_band"):
        fwi(op, observed, v0, frequencies=(5.0, None), iters_per_band=(3,), progress=False)
    with pytest.raises(InputError, match="shape"):
        fwi(op, observed[0], v0, progress=False)
    with pytest.raises(InputError, match="fixed"):
        fwi(op, observed, v0, fixed=torch.zeros(3, 3, dtype=torch.bool), progress=False)
    with pytest.raises(InputError, match="regulariser"):
        fwi(op, observed, v0, lam=1.0, progress=False)


def test_fwi_time_budget_shares_the_time_between_bands():
    op = crosswell()
    v0, truth = models()
    observed = op(truth)
    _, hist = fwi(op, observed, v0, optimizer="adam", frequencies=(8.0, None), iters_per_band=(10_000, 10_000),
                  seconds=1.0, bounds=(1500, 2500), progress=False)
    assert [b["stop_reason"] for b in hist.bands] == ["callback", "callback"]  # the budget, not the counts
    assert all(b["iterations"] >= 1 and math.isfinite(b["misfit_end"]) for b in hist.bands)
    assert hist.seconds[-1] < 3.0  # one iteration past each band's share at most
    with pytest.raises(InputError, match="seconds"):
        fwi(op, observed, v0, seconds=-1.0, progress=False)


def roughness(v: torch.Tensor) -> float:
    """Mean squared difference between neighbouring cells (m/s)^2."""
    return float(torch.diff(v, dim=-1).square().mean() + torch.diff(v, dim=-2).square().mean())


def test_fwi_smooth_updates_lower_the_roughness_and_fit_the_data():
    op = crosswell()
    v0, truth = models()
    observed = op(truth)
    options = dict(optimizer="adam", frequencies=(8.0, None), iters_per_band=(4, 4), lr=(0.1, 0.05),
                   bounds=(1500, 2500), truth=truth, progress=False)
    rough, hist_rough = fwi(op, observed, v0, **options)
    smooth, hist = fwi(op, observed, v0, smooth=(1.0, 3.0), **options)
    assert hist.bands[-1]["misfit_end"] < 0.5 * hist.bands[0]["misfit_start"]
    assert hist.model_error[-1] < hist.model_error_initial
    assert roughness(smooth) < 0.5 * roughness(rough)


def test_fwi_lbfgs_steps_per_band_and_bad_smoothing():
    op = crosswell()
    v0, truth = models()
    observed = op(truth)
    _, hist = fwi(op, observed, v0, frequencies=(8.0, None), iters_per_band=3, lr=(0.05, 0.02), smooth=1.0,
                  bounds=(1500, 2500), truth=truth, progress=False)
    assert hist.model_error[-1] < hist.model_error_initial
    with pytest.raises(InputError, match="one per band"):
        fwi(op, observed, v0, frequencies=(8.0, None), lr=(0.1, 0.05, 0.01), progress=False)
    with pytest.raises(InputError, match="smooth"):
        fwi(op, observed, v0, smooth=-1.0, progress=False)
    with pytest.raises(InputError, match="smooth"):
        fwi(op, observed, v0, smooth=(1.0, 2.0, 3.0), progress=False)
