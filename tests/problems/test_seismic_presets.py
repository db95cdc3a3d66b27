"""Seismic presets: OpenFWI-like families and Marmousi, the fwi method, and the command line."""

from __future__ import annotations

import json

import pytest
import torch

import inverselab as il
from conftest import data_file
from inverselab.cli import main
from inverselab.errors import InputError
from inverselab.methods import make_method
from inverselab.models import build_model

FAMILIES = ["fwi-flat", "fwi-curved", "fwi-faulted", "fwi-curved-faulted"]


@pytest.mark.parametrize("name", FAMILIES)
def test_family_truths_are_seeded_bounded_and_split(name):
    p = il.make_problem(name)
    a, b = p.sample_truth(3, seed=4), p.sample_truth(3, seed=4)
    assert a.shape == (3, 70, 70) and torch.equal(a, b)
    lo, hi = p.value_range
    assert float(a.min()) >= lo and float(a.max()) <= hi
    assert not torch.equal(a, p.sample_truth(3, seed=4, split="train"))
    start = p.baseline(torch.zeros(2, *p.operator.range_shape))
    assert start.shape == (2, 70, 70)
    assert torch.all(start[:, 1:] >= start[:, :-1] - 1e-9)  # the family mean speeds up with depth


def test_family_gathers_follow_the_openfwi_acquisition():
    p = il.make_problem("fwi-flat")
    assert p.operator.range_shape == (5, 70, 1000) and p.operator.step_ratio() == 1
    y = p.simulate(p.sample_truth(1, seed=0), seed=1)
    assert y.shape == (1, 5, 70, 1000) and torch.isfinite(y).all()
    # the direct wave reaches the receiver next to each source first
    first = y[0].abs().argmax(dim=-1).float()  # (shots, receivers): time of the strongest arrival
    for shot, (_, ix) in enumerate(p.operator.sources):
        assert abs(int(first[shot].argmin()) - ix) <= 2


def test_fwi_method_starts_from_the_family_mean_and_fits_the_data():
    p = il.make_problem("fwi-flat")
    x = p.sample_truth(1, seed=2)
    y = p.simulate(x, seed=3)
    est, history = make_method("fwi", p, iters_per_band=4).reconstruct(y, truth=x)
    assert history.model_error_initial == pytest.approx(float(torch.linalg.norm(p.baseline(y) - x) / torch.linalg.norm(x)))
    assert history.iterations == 4 and history.objective_iters == [1, 2, 3, 4]
    assert history.objective[-1] < 0.5 * history.objective[0]  # misfit at the start of iteration 4
    assert history.model_error[-1] <= history.model_error_initial
    assert float(est.min()) > p.value_range[0] and float(est.max()) < p.value_range[1]


def test_fwi_and_inversionnet_are_offered_only_for_wave_problems():
    ct = il.make_problem("ct-parallel", size=16, views=8)
    with pytest.raises(InputError, match="method 'fwi' does not apply to ct-parallel"):
        make_method("fwi", ct)
    with pytest.raises(InputError, match="needs a seismic problem"):
        build_model("inversionnet", ct)


@pytest.mark.parametrize(("params", "match"), [
    ({"frequencies": "x"}, "band frequency"),
    ({"bounds": (1500, "fast")}, "bounds must be two numbers"),
    ({"iters_per_band": [2, 2]}, "one per band"),
    ({"seed": -1}, "seed=-1 is out of range"),
    ({"bounds": (1000, 9000)}, "exceeds the operator's max_velocity"),
])
def test_fwi_settings_from_the_command_line_fail_clearly(params, match):
    p = il.make_problem("fwi-flat")
    y = torch.zeros(1, *p.operator.range_shape)
    with pytest.raises(InputError, match=match):
        make_method("fwi", p, **params).reconstruct(y)


def test_fwi_reads_none_bands_and_partial_bounds_as_written_in_a_config():
    p = il.make_problem("fwi-flat")
    x = p.sample_truth(1, seed=5)
    y = p.simulate(x, seed=6)
    est, history = make_method("fwi", p, frequencies=[10.0, "none"], iters_per_band=1, bounds=("none", 4500.0)).reconstruct(y)
    assert history.band == [10.0, None] and est.shape == x.shape


def test_marmousi_builds_without_data_and_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("INVERSELAB_DATA", str(tmp_path))
    p = il.make_problem("fwi-marmousi", shots=4)
    assert p.operator.domain_shape == (134, 384) and p.operator.range_shape[0] == 4
    with pytest.raises(InputError, match="INVERSELAB_DATA"):
        p.sample_truth(1)


@pytest.mark.realdata
def test_marmousi_truth_and_start_from_shared_data():
    path = data_file("seismic", "cp_true.mat")
    p = il.make_problem("fwi-marmousi", velocity=str(path), start=str(path.with_name("cp_init.mat")))
    truth = p.sample_truth(1)
    start = p.baseline(torch.zeros(1, *p.operator.range_shape))
    assert truth.shape == start.shape == (1, 134, 384)
    assert float(truth.max()) == pytest.approx(5500.0) and float(start.max()) < 4000.0
    assert torch.equal(truth[:, :10], start[:, :10])  # the same water layer, kept fixed by FWI


@pytest.mark.realdata
def test_cli_solve_of_the_one_marmousi_model_inverts_it_once(tmp_path, monkeypatch):
    monkeypatch.setenv("INVERSELAB_DATA", str(data_file("seismic", "cp_true.mat").parent.parent))
    out = tmp_path / "marmousi"
    args = ["solve", "fwi-marmousi", "--set", "shots=2", "record=0.5", "--param", "iters_per_band=1",
            "frequencies=none", "shots_per_batch=none", "--out", str(out)]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 1 and len(metrics["per_sample"]["rel_error"]) == 1  # not 8 copies of one inversion


def test_cli_solve_train_evaluate_on_a_family(tmp_path, capsys):
    solve = tmp_path / "fwi"
    assert main(["solve", "fwi-flat", "--n", "1", "--param", "iters_per_band=2", "--out", str(solve)]) == 0
    metrics = json.loads((solve / "metrics.json").read_text())
    assert metrics["method"] == "fwi" and (solve / "figures" / "estimate.png").is_file()
    assert (solve / "figures" / "model_error.png").is_file()  # FWI records the model error per iteration
    page = tmp_path / "fwi.html"
    assert main(["report", str(solve), "--out", str(page)]) == 0
    assert "alt='model_error'" in page.read_text()  # and the report shows it
    run = tmp_path / "inet"
    tiny = ["--option", "width=4", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--n", "2"]
    assert main(["train", "fwi-flat", "--model", "inversionnet", *tiny, "--out", str(run)]) == 0
    out = tmp_path / "eval"
    assert main(["evaluate", str(run), "--n", "2", "--out", str(out)]) == 0
    scores = json.loads((out / "metrics.json").read_text())
    assert scores["method"] == "inversionnet" and len(scores["per_sample"]["ssim"]) == 2
    gan = tmp_path / "gan"  # the generator starts from the InversionNet run
    tiny_gan = ["--option", "width=4", "critic_width=4", *tiny[2:]]
    assert main(["train", "fwi-flat", "--model", "cwgan", "--init", str(run), *tiny_gan, "--out", str(gan)]) == 0
    config = (gan / "config.toml").read_text()
    assert 'name = "wgan-gp"' in config and "init = " in config
    scores = json.loads((gan / "metrics.json").read_text())
    assert scores["method"] == "cwgan" and (gan / "model.safetensors").is_file()
    capsys.readouterr()
    assert main(["train", "fwi-flat", "--model", "cwgan", "--init", str(tmp_path), *tiny_gan, "--out", str(tmp_path / "g2")]) == 2
    assert "no model.safetensors" in capsys.readouterr().err
