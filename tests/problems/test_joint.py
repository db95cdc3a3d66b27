"""The joint-optimisation families as problems: instances, per-instance optimisers, the network."""

from __future__ import annotations

import json

import pytest
import torch

import inverselab as il
from inverselab.cli import main
from inverselab.errors import InputError
from inverselab.training import make_loss


@pytest.mark.parametrize("name", ["joint-toy", "joint-wave-packet", "joint-heat-sources"])
def test_instances_are_built_around_the_truth_and_pack_losslessly(name):
    p = il.make_problem(name)
    x = p.sample_truth(3, seed=4, dtype=torch.float64)
    y = p.simulate(x, seed=5)
    assert y.shape == (3, *p.operator.range_shape)
    inst = p.family.unpack(y)
    assert torch.equal(p.family.truth(inst), x)
    assert torch.equal(p.family.pack(inst), y)
    assert torch.equal(p.simulate(x, seed=5), y)  # same seed, same instances


def test_restarts_beat_a_single_lbfgs_run_on_the_toy_landscape(tmp_path):
    scores = {}
    for method in ("lbfgs", "restarts"):
        out = tmp_path / method
        assert main(["solve", "joint-toy", "--method", method, "--n", "48", "--out", str(out)]) == 0
        scores[method] = json.loads((out / "metrics.json").read_text())
    assert scores["restarts"]["objective"] < 0.8 * scores["lbfgs"]["objective"]
    assert (tmp_path / "lbfgs" / "figures" / "objective.png").is_file()


def test_joint_network_trains_on_instance_losses_without_labels(tmp_path):
    run = tmp_path / "net"
    assert main(["train", "joint-toy", "--model", "joint-mlp", "--epochs", "8", "--steps-per-epoch", "50",
                 "--batch-size", "128", "--n", "64", "--out", str(run)]) == 0
    m = json.loads((run / "metrics.json").read_text())
    baseline = il.make_problem("joint-toy")
    x = baseline.sample_truth(64, seed=0, dtype=torch.float64)
    y = baseline.simulate(x, seed=1)
    centre = baseline.evaluate(baseline.baseline(y), x, y=y)["objective"]
    assert m["objective"] < 0.7 * sum(centre) / len(centre)  # far below the losses at the box centre


def test_objective_loss_and_scores_need_a_joint_problem():
    with pytest.raises(InputError, match="per-instance losses"):
        make_loss("objective")(torch.zeros(2, 1), None, torch.zeros(2, 3), il.make_problem("ct-parallel", size=16))
    p = il.make_problem("joint-toy")
    with pytest.raises(InputError, match="needs its instances"):
        p.evaluate(torch.zeros(2, 1), torch.zeros(2, 1))
    with pytest.raises(InputError, match="no forward operator"):
        p.operator(torch.zeros(2, 1))
