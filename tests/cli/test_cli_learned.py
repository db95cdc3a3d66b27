"""Command line of the learned methods: train, evaluate, report, data generate, demo."""

from __future__ import annotations

import json

import pytest
import torch

from inverselab import demo
from inverselab.cli import main
from inverselab.records import read_toml

PROBLEM = ["--set", "size=32", "views=12"]
TINY = ["--option", "width=8", "iterations=2", "--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "2", "--n", "4"]


@pytest.fixture(scope="module")
def lpd_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "lpd"
    assert main(["train", "ct-parallel", "--model", "lpd", *PROBLEM, *TINY, "--out", str(out)]) == 0
    return out


def test_train_writes_the_run_directory(lpd_run):
    config = read_toml(lpd_run / "config.toml")
    assert config["model"] == {"name": "lpd", "options": {"width": 8, "iterations": 2}}
    assert config["problem"]["views"] == 12 and config["training"]["batch_size"] == 2
    assert list((lpd_run / "checkpoints").glob("step-*.safetensors"))
    assert (lpd_run / "model.safetensors").is_file() and (lpd_run / "figures" / "estimate.png").is_file()
    metrics = json.loads((lpd_run / "metrics.json").read_text())
    assert metrics["method"] == "lpd" and metrics["n"] == 4 and metrics["training_steps"] == 3


def test_evaluate_uses_the_solve_schema(lpd_run, tmp_path, capsys):
    solve = tmp_path / "tv"
    assert main(["solve", "ct-parallel", "--method", "fbp", "--n", "4", *PROBLEM, "--out", str(solve)]) == 0
    out = tmp_path / "eval"
    assert main(["evaluate", str(lpd_run), "--n", "4", "--set", "noise=0.1", "--batch-size", "2", "--out", str(out)]) == 0
    assert "PSNR" in capsys.readouterr().out
    ours, theirs = json.loads((out / "metrics.json").read_text()), json.loads((solve / "metrics.json").read_text())
    assert set(theirs) <= set(ours)
    assert ours["config"]["problem"]["noise"] == 0.1 and ours["config"]["batch_size"] == 2
    assert ours["config"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert len(ours["per_sample"]["psnr"]) == 4
    assert ours["images_per_second"] == pytest.approx(1 / ours["seconds_per_sample"], rel=1e-6)
    assert main(["evaluate", str(lpd_run), "--n", "2", "--batch-size", "0", "--out", str(out)]) == 2
    assert "--batch-size: must be >= 1" in capsys.readouterr().err


def test_report_is_one_self_contained_html_file(lpd_run, tmp_path):
    solve = tmp_path / "fbp"
    main(["solve", "ct-parallel", "--method", "fbp", "--n", "4", *PROBLEM, "--out", str(solve)])
    page = tmp_path / "report.html"
    assert main(["report", str(solve), str(lpd_run), "--out", str(page)]) == 0
    text = page.read_text()
    assert text.count("<img") >= 3 and "data:image/png;base64," in text
    assert "<table>" in text and ">lpd<" in text and ">fbp<" in text
    assert "src='http" not in text  # nothing fetched from elsewhere


def test_resume_refuses_a_different_model(lpd_run, capsys):
    code = main(["train", "ct-parallel", "--model", "unet", *PROBLEM, *TINY, "--resume", "--out", str(lpd_run)])
    assert code == 2
    assert "different model" in capsys.readouterr().err


def test_data_generate_then_train_from_the_cache(tmp_path):
    cache = tmp_path / "pairs.h5"
    assert main(["data", "generate", "ct-parallel", *PROBLEM, "--n", "6", "--out", str(cache)]) == 0
    out = tmp_path / "unet"
    assert main(["train", "ct-parallel", "--model", "unet", *PROBLEM, "--data", str(cache), "--option", "width=4", "depth=2",
                 "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--n", "2", "--out", str(out)]) == 0
    assert read_toml(out / "config.toml")["data"] == str(cache)


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "ct-parallel", "--model", "lpd", "--out", "x"], "either --epochs E or --minutes M"),
        (["train", "ct-parallel", "--model", "lpd", "--epochs", "1", "--option", "depth=2", "--out", "x"], "no option 'depth'"),
        (["train", "ct-parallel", "--model", "lpd", "--epochs", "1", "--multitask", "views", "--out", "x"], "KEY=V1,V2"),
        (["evaluate", "nowhere"], "not a training run"),
        (["report", "nowhere", "--out", "r.html"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_demo_compares_classical_and_learned_and_writes_the_report(tmp_path, capsys, monkeypatch):
    tiny = {"size": 32, "n": 4, "batch": 2, "steps_per_epoch": 2, "unet_epochs": 1, "lpd_epochs": 1,
            "unet": {"width": 4, "depth": 2},
            "lpd": {"width": 8, "iterations": 2}}
    monkeypatch.setitem(demo.DEMO_SETTINGS, True, tiny)
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    for method in ("fbp", "tv", "unet", "lpd"):
        assert f"\n{method} " in out
    assert "at batch size 2 (every method)" in out
    assert (tmp_path / "demo" / "report.html").stat().st_size > 10_000
    timing = json.loads((tmp_path / "demo" / "timing.json").read_text())
    for method in ("fbp", "tv", "unet", "lpd"):  # one protocol, the same batch sizes for every method
        by_batch = timing["timing"][method]
        assert sorted(by_batch) == ["1", "2"] and by_batch["2"]["batch_size"] == 2 and by_batch["1"]["repeats"] == 5
        assert by_batch["2"]["minimum"] <= by_batch["2"]["median"] <= by_batch["2"]["maximum"]
    unet = json.loads((tmp_path / "demo" / "unet" / "metrics.json").read_text())
    assert unet["training_steps"] == 2 and unet["timing"] == timing["timing"]["unet"]


def test_average_of_kept_checkpoints_is_a_run_that_evaluates(tmp_path, capsys):
    run = tmp_path / "lpd"
    tiny = [*TINY[:4], "3", "--steps-per-epoch", "2", "--batch-size", "2", "--n", "2", "--keep", "0"]
    assert main(["train", "ct-parallel", "--model", "lpd", *PROBLEM, *tiny, "--out", str(run)]) == 0
    kept = sorted((run / "checkpoints").glob("step-*.json"))
    assert len(kept) == 3  # --keep 0 keeps every epoch's checkpoint
    avg = tmp_path / "swa"
    assert main(["average", str(run), "--from-step", "4", "--out", str(avg)]) == 0
    assert "averaged 2 checkpoints (steps 4-6)" in capsys.readouterr().out
    assert read_toml(avg / "config.toml")["average"]["steps"] == [4, 6]
    from inverselab.training import load_weights
    from inverselab.training.checkpoint import read_checkpoint

    mean = load_weights(avg / "model.safetensors")
    parts = [read_checkpoint(r)[1] for r in kept[1:]]
    for name, value in mean.items():
        torch.testing.assert_close(value, (parts[0][f"model/{name}"] + parts[1][f"model/{name}"]) / 2)
    assert main(["evaluate", str(avg), "--n", "2"]) == 0
    assert json.loads((avg / "metrics.json").read_text())["method"] == "lpd"


def test_average_refuses_a_run_without_kept_checkpoints_and_altered_ones(lpd_run, tmp_path, capsys):
    assert main(["average", str(lpd_run), "--from-step", "99", "--out", str(tmp_path / "a")]) == 2
    assert "train with --keep 0" in capsys.readouterr().err
    record = sorted((lpd_run / "checkpoints").glob("step-*.json"))[-1]
    copy = tmp_path / "run"
    (copy / "checkpoints").mkdir(parents=True)
    (copy / "config.toml").write_bytes((lpd_run / "config.toml").read_bytes())
    (copy / "checkpoints" / record.name).write_bytes(record.read_bytes())
    tensors = record.with_suffix(".safetensors").read_bytes()
    (copy / "checkpoints" / record.with_suffix(".safetensors").name).write_bytes(tensors[:-1] + bytes([tensors[-1] ^ 0xFF]))
    assert main(["average", str(copy), "--last", "1", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "does not match its record" in err and len(err.strip().splitlines()) == 1


def test_evaluate_symmetrize_needs_a_problem_with_symmetries(lpd_run, tmp_path, capsys):
    assert main(["evaluate", str(lpd_run), "--n", "2", "--symmetrize", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "no exact symmetries" in err and len(err.strip().splitlines()) == 1


def test_evaluate_symmetrize_averages_a_radio_unet_over_the_half_turn(tmp_path):
    run = tmp_path / "radio"
    tiny = ["--option", "width=4", "depth=2", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--n", "2"]
    assert main(["train", "radio", "--set", "size=16", "antennas=8", "--model", "unet", *tiny, "--out", str(run)]) == 0
    plain, averaged = tmp_path / "plain", tmp_path / "averaged"
    assert main(["evaluate", str(run), "--n", "3", "--out", str(plain)]) == 0
    assert main(["evaluate", str(run), "--n", "3", "--symmetrize", "--out", str(averaged)]) == 0
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (plain, averaged))
    assert b["config"]["symmetrized"] == ["half turn"] and a["config"]["symmetrized"] == []
    assert a["per_sample"]["psnr"] != b["per_sample"]["psnr"]  # a trained U-Net is not exactly equivariant
