"""Plugins: methods, models, losses and problems defined outside the package, registered through
INVERSELAB_PLUGINS or an entry point, usable from Python and from the command line; a broken
plugin costs one warning line and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MODULE_PLUGIN = '''
import torch
from torch import nn

from inverselab.methods import linear, register as register_method
from inverselab.models import register as register_model
from inverselab.training import Loss, register_loss


@register_method("scaled-adjoint", "the adjoint, scaled by 1 / ||A||^2", applies_to=linear)
def scaled_adjoint(problem, y, truth=None, *, gain: float = 1.0):
    """Adjoint reconstruction.

    Parameters
    ----------
    gain : float
        Factor on the normalised adjoint.
    """
    op = problem.operator
    return gain * op.adjoint(y) / op.norm() ** 2


class Residual(nn.Module):
    def __init__(self, baseline, width: int = 4):
        super().__init__()
        self.baseline = baseline
        self.body = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, y):
        x = self.baseline(y)
        return x + self.body(x)


@register_model("residual-cnn", "baseline plus a two-layer residual CNN", Residual, supplied=("baseline",))
def residual_cnn(problem, **options):
    return Residual(problem.baseline_fn, **options)


@register_loss("l1-truth", "mean absolute error against the truth")
class L1Truth(Loss):
    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def __call__(self, estimate, truth, y, problem):
        return self.scale * (estimate - truth).abs().mean()
'''

ENTRY_POINT_PLUGIN = '''
def register():
    import torch

    from inverselab.methods import register as register_method
    from inverselab.problems import make_problem, register as register_problem

    @register_method("zeros", "the all-zero image", applies_to=lambda problem: True)
    def zeros(problem, y, truth=None):
        return torch.zeros(y.shape[0], *problem.operator.domain_shape, dtype=y.dtype)

    @register_problem("tiny-ct", "a 16x16 parallel-beam CT problem")
    def tiny_ct(views: int = 8, noise: float = 0.05):
        return make_problem("ct-parallel", size=16, views=views, noise=noise)
'''

SCRIPT = '''
import json, sys
import torch
import inverselab as il
from inverselab.cli import main
from inverselab.models import build_model
from inverselab.training import make_loss

out = sys.argv[1]
p = il.make_problem("ct-parallel", size=16, views=8)
x, y = p.test_data(2, seed=0)
xa, hist = il.make_method("scaled-adjoint", p, gain="2").reconstruct(y)
result = {"adjoint_shape": list(xa.shape), "gain": il.make_method("scaled-adjoint", p, gain="2").params["gain"]}
net = build_model("residual-cnn", p, width=3)
result["model_params"] = sum(q.numel() for q in net.parameters())
result["loss"] = float(make_loss("l1-truth", scale=2.0)(x, x, y, p))
result["tiny"] = tuple(il.make_problem("tiny-ct").operator.range_shape) == tuple(p.operator.range_shape)
result["zeros"] = float(il.reconstruct(p, y, "zeros")[0].abs().sum())
result["list"] = main(["list"])
result["solve"] = main(["solve", "ct-parallel", "--set", "size=16", "views=8", "--method", "scaled-adjoint",
                        "--param", "gain=1.5", "--n", "2", "--out", out + "/solve"])
result["train"] = main(["train", "ct-parallel", "--set", "size=16", "views=8", "--model", "residual-cnn",
                        "--option", "width=2", "--loss", "l1-truth", "--epochs", "1", "--steps-per-epoch", "2",
                        "--batch-size", "2", "--n", "2", "--out", out + "/train"])
result["solve_run"] = main(["solve", "ct-parallel", "--set", "size=16", "views=8", "--method", out + "/train",
                            "--n", "2", "--out", out + "/solve-run"])
result["solve_ep"] = main(["solve", "tiny-ct", "--method", "zeros", "--n", "1", "--out", out + "/zeros"])
print("RESULT " + json.dumps(result))
'''


def _plugins(tmp_path: Path) -> dict:
    """A plugin module, and a throwaway distribution with an entry point, importable from
    ``tmp_path/site``; returns the environment that makes both visible."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "my_methods.py").write_text(textwrap.dedent(MODULE_PLUGIN))
    (site / "throwaway_plugin.py").write_text(textwrap.dedent(ENTRY_POINT_PLUGIN))
    info = site / "throwaway_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: throwaway-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[inverselab.plugins]\nthrowaway = throwaway_plugin:register\n")
    env = {k: v for k, v in os.environ.items() if k != "INVERSELAB_PLUGINS"}
    env.update(PYTHONPATH=os.pathsep.join([str(site), env.get("PYTHONPATH", "")]), INVERSELAB_PLUGINS="my_methods",
               OMP_NUM_THREADS="1")
    return env


def _run(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_plugin_method_model_loss_and_problem_work_from_python_and_the_cli(tmp_path):
    env = _plugins(tmp_path)
    (tmp_path / "script.py").write_text(SCRIPT)
    done = _run(["script.py", str(tmp_path / "runs")], env, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result["adjoint_shape"] == [2, 1, 16, 16]
    assert result["gain"] == 2.0  # the string "2" converted to the declared float
    assert result["model_params"] == (1 * 3 * 9 + 3) + (3 * 1 * 9 + 1)
    assert result["loss"] == 0.0
    assert result["tiny"] is True
    assert result["zeros"] == 0.0
    assert {k: result[k] for k in ("list", "solve", "train", "solve_run", "solve_ep")} == dict.fromkeys(
        ("list", "solve", "train", "solve_run", "solve_ep"), 0)
    for name in ("scaled-adjoint", "residual-cnn", "l1-truth", "zeros", "tiny-ct"):
        assert name in done.stdout
    runs = tmp_path / "runs"
    solved = json.loads((runs / "solve" / "metrics.json").read_text())
    assert solved["method"] == "scaled-adjoint" and solved["config"]["method"]["gain"] == 1.5
    trained = json.loads((runs / "solve-run" / "metrics.json").read_text())
    assert trained["method"] == "residual-cnn" and set(solved) <= set(trained)
    assert "l1-truth" in (runs / "train" / "config.toml").read_text()


def test_a_broken_plugin_warns_once_and_the_rest_still_works(tmp_path):
    env = _plugins(tmp_path)
    env["INVERSELAB_PLUGINS"] = "my_methods,no_such_plugin_module"
    listed = _run(["-m", "inverselab", "list"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    warnings = [line for line in listed.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "no_such_plugin_module" in warnings[0] and "warning" in warnings[0]
    assert "scaled-adjoint" in listed.stdout  # the good plugin still loads
    used = _run(["-m", "inverselab", "solve", "ct-parallel", "--method", "missing-method", "--out",
                 str(tmp_path / "x")], env, tmp_path)
    errors = [line for line in used.stderr.splitlines() if line.strip() and "warning" not in line]
    assert used.returncode == 2 and len(errors) == 1
    assert "missing-method" in errors[0] and "no_such_plugin_module" in errors[0]
    assert not (tmp_path / "x").exists()
