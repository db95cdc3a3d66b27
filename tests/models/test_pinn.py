"""PINN declaration, derivatives, named loss terms, weighting and training."""

from __future__ import annotations

import math

import pytest
import torch

import inverselab as il
from inverselab.errors import InputError
from inverselab.models.pinn import (
    PINN,
    Box,
    Constraint,
    Dirichlet,
    GradientAnnealing,
    Initial,
    Net,
    Observed,
    ReLoBRaLo,
    Scalar,
    fit,
)
from inverselab.problems import make_problem
from inverselab.methods.pinn import _diffusion_pinn, _heat_pinn, _poisson_pinn
from inverselab.problems.pde import _diffusion_exact, _heat_a, _heat_u, _poisson_a, _poisson_u

pi = math.pi


def _exact(model: PINN, solutions: dict) -> PINN:
    """Make every network of ``model`` return the analytic solution (float64)."""
    model.double()

    def field_values(key, points, v):
        cols = [solutions[name](v) for name in model.output_names(key)]
        return torch.stack(cols, dim=1)

    model.field_values = field_values
    return model


def _max_losses(model: PINN, n: int = 200) -> dict:
    points = model.sample_points(n, torch.Generator().manual_seed(3))
    return {k: float(v.detach()) for k, v in model.losses(points).items()}


def _vanish(losses: dict) -> bool:
    """Residual terms vanish to float64 round-off; data terms to float32 (stored values)."""
    return all(v < (1e-12 if k.startswith("data") else 1e-20) for k, v in losses.items())


def test_diffusion_residuals_vanish_on_the_analytic_solution():
    problem = make_problem("pinn-diffusion-1d", C_init=1.0)
    model = _exact(_diffusion_pinn(problem, problem.observe(0), 0, 8), {"u": lambda v: _diffusion_exact(v.x, v.t)})
    losses = _max_losses(model)
    assert set(losses) == {"pde", "bc", "ic", "data"}
    assert _vanish(losses), losses
    # with the wrong coefficient the residual does not vanish
    model.raw["C"].data.fill_(2.0)
    assert _max_losses(model)["pde"] > 1.0


def test_heat_residuals_vanish_on_the_analytic_solution():
    problem = make_problem("heat-conductivity", noise=0.0, observations=50)
    model = _exact(_heat_pinn(problem, problem.observe(0), 0, 8),
                   {"u": lambda v: _heat_u(v.x, v.y, v.t), "a": lambda v: _heat_a(v.x, v.y)})
    assert _vanish(_max_losses(model))


def test_heat_residual_detects_a_wrong_conductivity():
    problem = make_problem("heat-conductivity", noise=0.0, observations=50)
    model = _exact(_heat_pinn(problem, problem.observe(0), 0, 8),
                   {"u": lambda v: _heat_u(v.x, v.y, v.t), "a": lambda v: 2 + 0 * v.x})
    assert _max_losses(model)["pde"] > 1.0


def test_poisson_residuals_vanish_on_the_analytic_solution():
    problem = make_problem("poisson-conductivity", noise=0.0, grid=10)
    model = _exact(_poisson_pinn(problem, problem.observe(0), 0, 8),
                   {"u": lambda v: _poisson_u(v.x, v.y), "a": lambda v: _poisson_a(v.x, v.y)})
    assert _vanish(_max_losses(model))


def test_derivatives_by_name_match_calculus():
    net = Net(hidden=(4,), transform=lambda r, v: 0 * r + torch.sin(v.x) * v.time**2)
    model = PINN(domain=Box(x=(0, 2), time=(0, 1)), fields={"u": net},
                 residuals={"r": lambda v: v.u}, time="time").double()
    v = model.values(torch.tensor([[0.3, 0.5], [1.2, 0.9]], dtype=torch.float64))
    x, t = v.x, v.time
    assert torch.allclose(v.u_x, torch.cos(x) * t**2)
    assert torch.allclose(v.u_xx, -torch.sin(x) * t**2)
    assert torch.allclose(v.d("u", "time"), 2 * torch.sin(x) * t)
    assert torch.allclose(v.d("u", "x", "time"), 2 * torch.cos(x) * t)
    with pytest.raises(AttributeError, match="derivatives are written like"):
        v.w_x


def test_declaration_errors_are_clear():
    box = Box(x=(0, 1), t=(0, 1))
    with pytest.raises(InputError, match="distinct"):
        PINN(box, {"u": Net()}, {"data": lambda v: v.u}, observations={"data": Observed("u", torch.zeros(2, 2), torch.zeros(2))})
    with pytest.raises(InputError, match="low < high"):
        Box(x=(1, 0))
    with pytest.raises(InputError, match="time coordinate"):
        PINN(Box(x=(0, 1)), {"u": Net()}, {"pde": lambda v: v.u}, conditions={"ic": Initial("u", 0.0)})
    with pytest.raises(InputError, match=r"observation points must be \(N, 2\)"):
        PINN(box, {"u": Net()}, {"pde": lambda v: v.u}, observations={"d": Observed("u", torch.zeros(3, 3), torch.zeros(3))})
    model = PINN(box, {"u": Net(hidden=(4,))}, {"pde": lambda v: v.u_t})
    with pytest.raises(InputError, match="unknown loss term 'bc'"):
        fit(model, weights={"bc": 1.0}, adam_steps=1, lbfgs_steps=0, progress=False)
    with pytest.raises(InputError, match="unknown fit setting"):
        fit(model, epochs=3)


def test_boundary_and_initial_points_lie_where_declared():
    model = PINN(Box(x=(-1, 1), y=(0, 2), t=(0, 5)), {"u": Net(hidden=(4,))}, {"pde": lambda v: v.u},
                 conditions={"bc": Dirichlet("u", 0.0, points=64), "ic": Initial("u", 0.0, points=32),
                             "left": Constraint(lambda v: v.u, on="boundary:x", points=16)})
    pts = model.sample_points(10, torch.Generator().manual_seed(0))
    x, y = pts["bc"][:, 0], pts["bc"][:, 1]
    on_face = torch.isclose(x.abs(), torch.tensor(1.0)) | torch.isclose(y, torch.tensor(0.0)) | torch.isclose(y, torch.tensor(2.0))
    assert bool(on_face.all())
    assert bool((pts["ic"][:, 2] == 0).all())
    assert bool(torch.isclose(pts["left"][:, 0].abs(), torch.tensor(1.0)).all())


def test_fit_recovers_the_diffusion_coefficient():
    torch.set_num_threads(1)
    problem = make_problem("pinn-diffusion-1d")
    estimate = il.estimate(problem, "pinn", seed=0, lbfgs_steps=1500)
    history = estimate.history
    assert abs(estimate.parameters["C"] - 1) < 5e-3
    assert history["phase"][0] == "adam" and history["phase"][-1] == "lbfgs"
    # the kept state is the best L-BFGS record (records before it were on other points)
    lbfgs = [i for i, phase in enumerate(history["phase"]) if phase == "lbfgs"]
    best = min(lbfgs, key=lambda i: history["loss"][i])
    assert estimate.parameters["C"] == pytest.approx(history["parameters"]["C"][best], rel=1e-6), (
        f"estimated C {estimate.parameters['C']} is not the C of the lowest-loss record "
        f"{history['parameters']['C'][best]} (step {history['step'][best]})"
    )


def test_lbfgs_never_ends_worse_than_adam_left_it():
    problem = make_problem("pinn-diffusion-1d")
    model = _diffusion_pinn(problem, problem.observe(0), 1, 16)
    history = fit(model, adam_steps=200, lbfgs_steps=200, collocation=40, record_every=20, progress=False, lr=1e-2)
    lbfgs = [loss for loss, phase in zip(history.loss, history.phase) if phase == "lbfgs"]
    adam_end = lbfgs[0]  # L-BFGS first records the state Adam left
    # without resampling, fit's points are the first draw of its seeded generator (seed 0)
    points = model.sample_points(40, torch.Generator().manual_seed(0))
    final = sum(history.weights[name][-1] * float(value.detach()) for name, value in model.losses(points).items())
    assert final == pytest.approx(min(lbfgs), rel=1e-5), f"kept state has loss {final}, best L-BFGS record {min(lbfgs)}"
    assert final < adam_end, f"L-BFGS ended at {final}, above where Adam left it ({adam_end})"


@pytest.mark.parametrize("scheme", ["annealing", "relobralo"])
def test_adaptive_weights_move(scheme):
    problem = make_problem("pinn-diffusion-1d")
    model = _diffusion_pinn(problem, problem.observe(0), 0, 16)
    history = fit(model, adam_steps=60, lbfgs_steps=0, collocation=40, record_every=10, weighting=scheme, progress=False)
    moved = [name for name, w in history.weights.items() if abs(w[-1] - w[0]) > 1e-6]
    assert moved, history.weights
    if scheme == "annealing":
        assert history.weights["pde"] == [1.0] * len(history.weights["pde"])  # the reference keeps its weight


def test_weighting_classes_validate():
    with pytest.raises(InputError, match="reference"):
        GradientAnnealing(["data"], reference=["pde"])
    with pytest.raises(InputError, match=">= 0"):
        ReLoBRaLo(["a", "b"], weights={"a": -1.0})


def test_scalar_scaling_and_positivity():
    s = Scalar(15.0, scale=10.0)
    assert s.raw_init() == pytest.approx(1.5)
    p = Scalar(0.5, positive=True)
    assert float(p.value(torch.tensor(p.raw_init()))) == pytest.approx(0.5)
    with pytest.raises(InputError, match="init > 0"):
        Scalar(-1.0, positive=True)


def _fit_points(model: PINN, collocation: int) -> dict:
    """The collocation points fit draws first (seed 0) without resampling."""
    return model.sample_points(collocation, torch.Generator().manual_seed(0))


def test_adam_alone_keeps_its_lowest_recorded_state():
    torch.manual_seed(0)
    problem = make_problem("pinn-diffusion-1d")
    model = _diffusion_pinn(problem, problem.observe(0), 1, 16)
    history = fit(model, adam_steps=300, lbfgs_steps=0, collocation=40, record_every=10, progress=False, lr=5e-2)
    assert min(history.loss) < history.loss[-1], "the setting must make Adam end above its best record"
    final = sum(history.weights[name][-1] * float(value.detach()) for name, value in model.losses(_fit_points(model, 40)).items())
    assert final == pytest.approx(min(history.loss), rel=1e-5)


def test_a_time_budget_stops_training_on_time_in_the_best_state():
    torch.manual_seed(0)
    problem = make_problem("pinn-diffusion-1d")
    model = _diffusion_pinn(problem, problem.observe(0), 1, 8)
    budget = 4.0
    history = fit(model, adam_steps=30_000, lbfgs_steps=0, collocation=20, record_every=1, progress=False,
                  minutes=budget / 60, lr=5e-2)  # 30,000 steps take far longer than the budget
    assert history.stop_reason == "time"
    assert budget <= history.seconds[-1] < budget + 8.0
    assert all(0 <= s <= history.seconds[-1] for s in history.seconds) and history.seconds == sorted(history.seconds)
    final = sum(history.weights[name][-1] * float(value.detach()) for name, value in model.losses(_fit_points(model, 20)).items())
    assert final == pytest.approx(min(history.loss), rel=1e-5)


def test_a_callback_stop_keeps_the_current_state_and_adam_records_its_last_step():
    problem = make_problem("pinn-diffusion-1d")
    model = _diffusion_pinn(problem, problem.observe(0), 1, 8)
    history = fit(model, adam_steps=95, lbfgs_steps=0, collocation=20, record_every=10, progress=False)
    assert history.step == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    model = _diffusion_pinn(problem, problem.observe(0), 1, 8)
    history = fit(model, adam_steps=300, lbfgs_steps=0, collocation=20, record_every=10, progress=False, lr=5e-2,
                  callback=lambda m, step: step == 200)
    assert history.stop_reason == "callback" and history.step[-1] == 200
    final = sum(history.weights[name][-1] * float(value.detach()) for name, value in model.losses(_fit_points(model, 20)).items())
    assert final == pytest.approx(history.loss[-1], rel=1e-5)


def test_lbfgs_starts_from_the_best_adam_state():
    torch.manual_seed(0)
    problem = make_problem("pinn-diffusion-1d")
    model = _diffusion_pinn(problem, problem.observe(0), 1, 16)
    history = fit(model, adam_steps=300, lbfgs_steps=3, collocation=40, record_every=10, progress=False, lr=5e-2)
    adam = [loss for loss, phase in zip(history.loss, history.phase) if phase == "adam"]
    first_lbfgs = history.loss[history.phase.index("lbfgs")]
    assert min(adam) < adam[-1]  # Adam ended above its best record
    assert first_lbfgs == pytest.approx(min(adam), rel=1e-6)


def test_lbfgs_records_each_chunk_and_stops_when_it_stalls():
    torch.manual_seed(0)
    problem = make_problem("pinn-diffusion-1d")
    model = _diffusion_pinn(problem, problem.observe(0), 1, 16)
    history = fit(model, adam_steps=100, lbfgs_steps=100, collocation=40, record_every=10, progress=False,
                  lbfgs_chunk=20)
    assert [s for s, phase in zip(history.step, history.phase) if phase == "lbfgs"] == [100, 120, 140, 160, 180, 200]
    assert history.stop_reason == "budget"
    model = _diffusion_pinn(problem, problem.observe(0), 1, 16)
    history = fit(model, adam_steps=100, lbfgs_steps=20_000, collocation=40, record_every=10, progress=False,
                  lbfgs_chunk=20)
    assert history.stop_reason == "converged" and 300 < history.step[-1] < 5_000  # measured: 817


def test_adam_resamples_on_schedule_and_decays_its_learning_rate(monkeypatch):
    """Collocation points are drawn once, then every ``resample_every`` steps; the learning
    rate decays exponentially to ``lr * lr_decay`` at the end of Adam."""
    problem = make_problem("pinn-diffusion-1d")
    model = _diffusion_pinn(problem, problem.observe(0), 1, 8)
    draws = []
    original = model.sample_points
    monkeypatch.setattr(model, "sample_points", lambda n, g: draws.append(n) or original(n, g))
    optimizers = []
    adam = torch.optim.Adam
    monkeypatch.setattr(torch.optim, "Adam", lambda *a, **k: optimizers.append(adam(*a, **k)) or optimizers[-1])
    fit(model, adam_steps=20, lbfgs_steps=0, collocation=16, resample_every=5, record_every=5, progress=False,
        lr=1e-3, lr_decay=0.1)
    assert len(draws) == 1 + 4  # the first draw, then steps 5, 10, 15 and 20
    assert optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-4, rel=1e-6)
