"""How fast the TV solvers converge, not only where: iterations to a relative objective gap,
bounded by the measured counts (plus 20 %), for every step rule and data step; the dual
projection and the TV proximal map against their definitions.

A change to a step rule, a residual of the adaptive steps or the diagonal preconditioner that
leaves the solvers convergent but slower fails here; the solution tests elsewhere cannot see it.
"""

from __future__ import annotations

import math

import pytest
import torch

from inverselab import solvers
from inverselab.operators import Identity
from inverselab.regularizers import TotalVariation, project_l2_ball
from inverselab.solvers import record_objective

from test_tv_scaling import LAM, _blur, _ct, _relative, _truth

MARGIN = 1.2


#: The minimum ``F*`` of each problem (6000 float64 PDHG iterations; checked by the slow test
#: below, so the rate tests need not recompute it).
MINIMA = {"ct": 20.740224527676766, "blur": 13.498716351483491}
#: The same with the constraint ``x >= 0`` (8000 iterations).
MINIMA_NONNEGATIVE = {"ct": 20.916635681352517, "blur": 13.49871928877269}


@pytest.fixture(scope="module")
def problems() -> dict:
    """Each problem's operator, data and minimum ``F*``."""
    return {name: (*make(), MINIMA[name]) for name, make in (("ct", _ct), ("blur", _blur))}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ct", "blur"])
def test_the_recorded_minima_are_the_minima(problems, name):
    op, y, fstar = problems[name]
    with record_objective(1):
        _, ref = solvers.tv_pdhg(op, y, LAM, iters=6000, tol=0)
        _, bounded = solvers.tv_pdhg(op, y, LAM, iters=8000, tol=0, bounds=(0.0, None))
    assert abs(min(ref.objective) - fstar) <= 1e-9 * fstar
    assert abs(min(bounded.objective) - MINIMA_NONNEGATIVE[name]) <= 1e-9 * fstar


def _iterations_to(history, fstar: float, gap: float) -> int | None:
    return next((k for k, f in enumerate(history.objective) if (f - fstar) / abs(fstar) <= gap), None)


def _pdhg(problems, name: str, iters: int, **kw):
    op, y, fstar = problems[name]
    with record_objective(1):
        _, history = solvers.tv_pdhg(op, y, LAM, iters=iters, tol=0, **kw)
    return history, fstar


# (problem, settings, measured iterations to a relative gap of 1e-4)
PDHG_RATES = [
    ("ct", {}, 367),  # linearized data step, default step rule
    ("ct", {"data_step": "cg"}, 111),
    ("ct", {"preconditioned": True}, 948),
    ("ct", {"preconditioned": True, "step_ratio": 0.3}, 299),
    ("ct", {"step_ratio": 0.01, "adaptive": True}, 276),
    ("ct", {"step_ratio": 100.0, "adaptive": True}, 250),
    ("blur", {}, 636),  # exact data step, default step rule
    ("blur", {"data_step": "linearized"}, 2595),
    ("blur", {"step_ratio": 0.01, "adaptive": True}, 396),
    ("blur", {"step_ratio": 100.0, "adaptive": True}, 395),
]


@pytest.mark.parametrize(("name", "settings", "measured"), PDHG_RATES,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in s.items()) or 'default'}" for n, s, _ in PDHG_RATES])
def test_pdhg_reaches_the_gap_within_the_measured_iterations(problems, name, settings, measured):
    history, fstar = _pdhg(problems, name, math.ceil(MARGIN * measured) + 1, **settings)
    k = _iterations_to(history, fstar, 1e-4)
    assert k is not None, f"PDHG {settings} on {name} no longer reaches a 1e-4 gap in {MARGIN}x its measured {measured}"


# (problem, settings, measured iterations to a relative gap of 1e-4 with x >= 0)
BOUNDED_RATES = [("ct", {}, 349), ("ct", {"data_step": "cg"}, 110), ("blur", {}, 675)]


@pytest.mark.parametrize(("name", "settings", "measured"), BOUNDED_RATES,
                         ids=[f"{n}-{s.get('data_step', 'default')}" for n, s, _ in BOUNDED_RATES])
def test_pdhg_with_bounds_reaches_the_gap_within_the_measured_iterations(problems, name, settings, measured):
    op, y, _ = problems[name]
    with record_objective(1):
        _, history = solvers.tv_pdhg(op, y, LAM, iters=math.ceil(MARGIN * measured) + 1, tol=0, bounds=(0.0, None),
                                     **settings)
    assert _iterations_to(history, MINIMA_NONNEGATIVE[name], 1e-4) is not None


# (problem, solver, measured iterations until the relative change falls below the default tolerance)
STOPS = [("ct", "pdhg", 589), ("blur", "pdhg", 1480), ("ct", "admm", 171), ("blur", "admm", 298)]


@pytest.mark.parametrize(("name", "solver", "measured"), STOPS, ids=[f"{n}-{s}" for n, s, _ in STOPS])
def test_solvers_stop_at_their_default_tolerance(problems, name, solver, measured):
    op, y, _ = problems[name]
    run = solvers.tv_pdhg if solver == "pdhg" else solvers.tv_admm
    _, history = run(op, y, LAM, iters=5000)
    assert history.stop_reason == "tolerance" and history.iterations <= math.ceil(MARGIN * measured)


def test_admm_runs_its_documented_default_of_100_iterations(problems):
    op, y, _ = problems["ct"]
    _, history = solvers.tv_admm(op, y, LAM, tol=0)
    assert history.iterations == 100


@pytest.mark.parametrize("name", ["ct", "blur"])
def test_adaptive_steps_rescue_a_bad_step_ratio(problems, name):
    fixed, fstar = _pdhg(problems, name, 600, step_ratio=0.01)
    assert _iterations_to(fixed, fstar, 1e-4) is None  # the fixed steps are hopeless
    adaptive, _ = _pdhg(problems, name, 600, step_ratio=0.01, adaptive=True)
    assert _iterations_to(adaptive, fstar, 1e-4) is not None


def test_admm_and_fista_rates_on_ct(problems):
    op, y, fstar = problems["ct"]
    with record_objective(1):
        _, admm = solvers.tv_admm(op, y, LAM, iters=math.ceil(MARGIN * 85) + 1, tol=0)
        _, fista = solvers.fista(op, y, TotalVariation(prox_iters=20).prox, LAM, iters=math.ceil(MARGIN * 36) + 1,
                                 tol=0, regularizer_value=TotalVariation().value)
    assert _iterations_to(admm, fstar, 1e-4) is not None, "ADMM: measured 85 iterations to a 1e-4 gap"
    assert _iterations_to(fista, fstar, 1e-3) is not None, "FISTA: measured 36 iterations to a 1e-3 gap"


def test_admm_rate_with_the_exact_data_structure_of_blur(problems):
    op, y, fstar = problems["blur"]
    with record_objective(1):
        _, admm = solvers.tv_admm(op, y, LAM, iters=math.ceil(MARGIN * 134) + 1, tol=0)
    assert _iterations_to(admm, fstar, 1e-3) is not None, "ADMM: measured 134 iterations to a 1e-3 gap"


def test_pdhg_runs_its_documented_default_of_300_iterations():
    op, y = _ct()
    _, history = solvers.tv_pdhg(op, y, LAM, tol=0)
    assert history.iterations == 300


def test_solvers_keep_no_graph_unless_asked():
    op, y = _ct()
    y = y.clone().requires_grad_(True)
    x, _ = solvers.tv_pdhg(op, y, LAM, iters=5)
    assert not x.requires_grad
    x, _ = solvers.tv_pdhg(op, y, LAM, iters=5, differentiable=True)
    assert x.requires_grad


# --- the pieces --------------------------------------------------------------------------------


def _projection_reference(g: torch.Tensor, radius: float) -> torch.Tensor:
    magnitude = g.abs().square().sum(1, keepdim=True).sqrt()
    return g * torch.clamp(radius / magnitude, max=1.0)


@pytest.mark.parametrize("components", [2, 3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_dual_projection_is_the_pointwise_projection_onto_the_ball(components, dtype):
    g = torch.randn(3, components, 5, 6, 7 if components == 3 else 1, generator=torch.Generator().manual_seed(0),
                    dtype=dtype).squeeze(-1)
    out = project_l2_ball(g, 0.8)
    assert torch.allclose(out, _projection_reference(g, 0.8), atol=1e-12)
    inside = g.abs().square().sum(1).sqrt() <= 0.8
    assert inside.any() and torch.equal(out.movedim(1, -1)[inside], g.movedim(1, -1)[inside])


def test_tv_prox_of_a_batch_of_multichannel_images():
    """Each image of a batch (B != C) is denoised on its own; 20 inner iterations are within
    5 % of the measured distance of the exact prox (0.724 %), which a weaker step or momentum
    exceeds."""
    noisy = _truth() + 0.1 * torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    stacked = torch.cat([noisy, noisy.flip(-1), noisy.flip(-2)], 1)  # (2, 3, 16, 16)
    t = 0.1
    out = TotalVariation().prox(stacked, t)
    one = TotalVariation().prox(noisy, t)
    assert torch.allclose(out[:, :1], one, atol=1e-12)
    reference, _ = solvers.tv_pdhg(Identity((1, 16, 16)), noisy, t, iters=3000, tol=1e-12)
    assert _relative(one, reference) < 1.05 * 0.00724


def test_default_step_ratio_edge_cases():
    """1 when the problem has no scale (no weight or no data); otherwise within [0.1, 1e4]."""
    from inverselab.solvers.proximal import _default_step_ratio

    op, y = _ct()
    assert _default_step_ratio(op, y, 0.0, "linearized") == 1.0
    assert _default_step_ratio(op, torch.zeros_like(y), LAM, "linearized") == 1.0
    assert _default_step_ratio(op, y, 1e-12, "linearized") == 1e4
    assert _default_step_ratio(op, y, 1e12, "linearized") == 0.1
    assert 0.1 < _default_step_ratio(op, y, LAM, "linearized") < 1e4


@pytest.mark.parametrize(("name", "measured"), [("ct", 95), ("blur", 144)])
def test_admm_with_bounds_reaches_the_constrained_minimum(problems, name, measured):
    """ct: measured 95 iterations to a 1e-4 gap; blur: 144 to a 1e-3 gap (ADMM is slow there)."""
    op, y, _ = problems[name]
    gap = 1e-4 if name == "ct" else 1e-3
    with record_objective(1):
        x, history = solvers.tv_admm(op, y, LAM, iters=math.ceil(MARGIN * measured) + 1, tol=0, bounds=(0.0, None))
    assert _iterations_to(history, MINIMA_NONNEGATIVE[name], gap) is not None
    assert float(x.min()) >= 0.0


def test_fista_runs_its_documented_default_of_200_iterations(problems):
    op, y, _ = problems["ct"]
    _, history = solvers.fista(op, y, TotalVariation(prox_iters=5).prox, LAM, tol=0)
    assert history.iterations == 200
