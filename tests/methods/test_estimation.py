"""Estimation problems (PDE coefficients, Lorenz), their classical methods, run folders."""

from __future__ import annotations

import json

import pytest
import torch

import inverselab as il
from inverselab.cli import main
from inverselab.errors import InputError
from inverselab.operators.base import Operator
from inverselab.problems import make_problem
from inverselab.problems.estimation import Estimate, EstimationProblem
from inverselab.solvers import minimize


def test_registry_builds_every_estimation_problem():
    for name in ("pinn-diffusion-1d", "heat-conductivity", "poisson-conductivity", "wave-speed-1d", "lorenz"):
        problem = make_problem(name)
        assert isinstance(problem, EstimationProblem)
        assert problem.default_method in problem.methods
        data = problem.observe(0)
        assert data.points.shape[0] == data.values.shape[0]
        assert torch.equal(data.values, problem.observe(0).values)  # same seed, same data
        assert not torch.equal(data.values, problem.observe(1).values) or data.sigma == 0


def test_unknown_method_and_parameter_are_clear():
    problem = make_problem("poisson-conductivity")
    with pytest.raises(InputError, match="method 'tv' does not apply to poisson-conductivity"):
        il.estimate(problem, "tv")
    with pytest.raises(InputError, match="has no parameter 'lr'.*valid are cells, lam, iters"):
        il.estimate(problem, "adjoint", lr=1.0)
    with pytest.raises(InputError, match="no field 'a'"):
        problem.evaluate(Estimate())


def test_evaluate_scores_fields_and_parameters():
    problem = make_problem("lorenz")
    perfect = Estimate(parameters=dict(problem.true_parameters))
    assert problem.evaluate(perfect)["rel_error"] == 0
    off = Estimate(parameters={**problem.true_parameters, "rho": 16.5})
    assert problem.evaluate(off)["parameters"]["rho"]["rel_error"] == pytest.approx(0.1)


def test_poisson_adjoint_inversion_recovers_the_conductivity():
    problem = make_problem("poisson-conductivity")
    estimate = il.estimate(problem, "adjoint", seed=0)
    assert problem.evaluate(estimate)["fields"]["a"] < 0.08
    assert estimate.history["iterations"] > 5


def test_heat_adjoint_inversion_beats_the_constant_start():
    problem = make_problem("heat-conductivity")
    estimate = il.estimate(problem, "adjoint", seed=0, cells=16, steps=20, lam=0.1, iters=40)
    constant = Estimate(fields={"a": torch.full_like(problem.true_fields["a"], 2.0)})
    assert problem.evaluate(estimate)["fields"]["a"] < 0.6 * problem.evaluate(constant)["fields"]["a"]


def test_lorenz_least_squares_within_one_percent():
    problem = make_problem("lorenz")
    scores = problem.evaluate(il.estimate(problem, "least-squares", seed=0))
    assert scores["rel_error"] < 0.01


def test_wave_speed_inversion_lowers_the_model_error():
    problem = make_problem("wave-speed-1d", cells=60, steps=300)
    estimate = il.estimate(problem, "adjoint", seed=0, iters=8)
    start = Estimate(fields={"c": torch.full_like(problem.true_fields["c"], 2100.0)})
    assert problem.evaluate(estimate)["fields"]["c"] < 0.5 * problem.evaluate(start)["fields"]["c"]


def test_minimize_does_not_stop_after_one_iteration_without_bounds():
    # regression: the iterate aliased the optimised tensor, so the relative change read 0
    op = Operator.from_function(lambda x: x**3, (4,), (4,))
    y = torch.tensor([[1.0, 8.0, 27.0, 64.0]], dtype=torch.float64)
    x, history = minimize(op, y, torch.ones(1, 4, dtype=torch.float64), iters=50)
    assert history.iterations > 1
    assert torch.allclose(x, torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=torch.float64), atol=1e-4)


def test_cli_solve_writes_an_estimation_run(tmp_path, capsys):
    out = tmp_path / "heat"
    code = main(["solve", "heat-conductivity", "--method", "adjoint", "--param", "cells=12", "steps=10", "iters=5",
                 "--set", "observations=300", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    problem = make_problem("heat-conductivity", observations=300)
    start = Estimate(fields={"a": torch.full_like(problem.true_fields["a"], 2.0)})  # the solver's constant start
    start_error = problem.evaluate(start)["fields"]["a"]  # 0.238 measured; the estimate 0.144
    assert metrics["method"] == "adjoint"
    assert metrics["fields"]["a"] < 0.8 * start_error, (
        f"relative error {metrics['fields']['a']:.3f} after 5 iterations, {start_error:.3f} at the constant start"
    )
    assert (out / "figures" / "field_a.png").stat().st_size > 1000
    assert (out / "figures" / "loss.png").is_file()
    assert (out / "config.toml").is_file() and (out / "estimate.safetensors").is_file()
    assert "rel. L2 error" in capsys.readouterr().out


def test_cli_solve_pinn_records_loss_terms(tmp_path):
    out = tmp_path / "pinn"
    code = main(["solve", "heat-conductivity", "--method", "pinn", "--param", "adam_steps=20", "lbfgs_steps=4",
                 "collocation=64", "width=8", "record_every=5", "--set", "observations=100", "--out", str(out)])
    assert code == 0
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert set(history["terms"]) == {"pde", "bc", "ic", "data"}
    assert history["weights"]["pde"][0] == pytest.approx(1e-3)
    assert (out / "figures" / "loss.png").is_file() and (out / "figures" / "field_a.png").is_file()


def test_cli_rejects_an_unknown_parameter(tmp_path, capsys):
    assert main(["solve", "lorenz", "--param", "lr=1", "--out", str(tmp_path / "x")]) == 2
    assert "has no parameter 'lr'" in capsys.readouterr().err


def test_report_shows_estimation_runs_with_their_figures(tmp_path):
    heat, wave = tmp_path / "heat", tmp_path / "wave"
    assert main(["solve", "heat-conductivity", "--method", "adjoint", "--param", "cells=12", "steps=10", "iters=3",
                 "--set", "observations=200", "--out", str(heat)]) == 0
    assert main(["solve", "wave-speed-1d", "--param", "iters=2", "--set", "cells=40", "steps=200",
                 "--out", str(wave)]) == 0
    assert (wave / "figures" / "field_c.png").stat().st_size > 1000  # a 1-D profile plot
    out = tmp_path / "report.html"
    assert main(["report", str(heat), str(wave), "--out", str(out)]) == 0
    text = out.read_text()
    assert "Parameter and field estimation" in text and "wave-speed-1d" in text
    assert text.count("data:image/png;base64,") >= 4  # fields and loss curves of both runs
    assert "PSNR (dB)" not in text  # no reconstruction table without reconstruction runs


def test_adjoint_inversion_regularisers():
    problem = make_problem("poisson-conductivity", grid=25)
    tv = il.estimate(problem, "adjoint", seed=0, reg="tv", lam=0.01, cells=16, iters=40)
    assert problem.evaluate(tv)["fields"]["a"] < 0.15
    with pytest.raises(InputError, match="regulariser"):
        il.estimate(problem, "adjoint", reg="l1")
