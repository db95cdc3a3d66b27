"""Checkpoints (atomic, verified, never unpickled) and the HDF5 cache (resumable)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import h5py
import pytest
import torch

import inverselab as il
from inverselab.errors import InputError
from inverselab.models import build_model
from inverselab.training.checkpoint import checkpoint_records, save_checkpoint
from inverselab.training import (
    HDF5Pairs,
    OnTheFly,
    Trainer,
    generate_hdf5,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    save_weights,
)


@pytest.fixture()
def trained_run(tmp_path, problem):
    """A 6-step run, its model, optimiser and the torch RNG state when its last checkpoint was
    written (nothing draws from the generator after it)."""
    torch.manual_seed(0)
    model = build_model("lpd", problem, width=8, iterations=2)
    trainer = Trainer(model, problem, out=tmp_path, batch_size=2, steps_per_epoch=3, val_size=2)
    trainer.fit(epochs=2)
    return tmp_path, model, trainer.optimizer, torch.get_rng_state()


def test_checkpoint_restores_model_optimizer_and_rng(trained_run, problem):
    run, model, optimizer, rng = trained_run
    record = latest_checkpoint(run / "checkpoints")
    assert record.name == "step-00000006.json"
    torch.manual_seed(1)  # other initial weights
    fresh = build_model("lpd", problem, width=8, iterations=2)
    opt = torch.optim.AdamW(fresh.parameters())
    torch.manual_seed(123)
    meta = load_checkpoint(record, fresh, opt)
    assert meta["step"] == 6 and len(meta["history"]) == 2
    assert model.state_dict().keys() == fresh.state_dict().keys()
    for name, a in model.state_dict().items():
        assert torch.equal(a, fresh.state_dict()[name]), f"weight {name} not restored"
    restored, saved = opt.state_dict()["state"], optimizer.state_dict()["state"]
    assert restored.keys() == saved.keys() and int(restored[0]["step"]) == 6
    for index, entry in saved.items():
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(restored[index][key], entry[key]), f"optimizer {key} of parameter {index} not restored"
    assert torch.equal(torch.get_rng_state(), rng), "the torch RNG state was not restored"
    assert len(list((run / "checkpoints").glob("*.safetensors"))) == 2  # keep=2


def test_checkpoint_listing_skips_damaged_and_unreadable_records(trained_run):
    run, *_ = trained_run
    folder = run / "checkpoints"
    good = checkpoint_records(folder)
    assert len(good) >= 2
    (folder / "0-damaged.json").write_text("{not json")  # sorted first: a scan that stopped there finds nothing
    (folder / "00-wrong-field.json").write_text('{"step": "six"}')
    (folder / "000-folder.json").mkdir()
    assert checkpoint_records(folder) == good
    assert latest_checkpoint(folder) == good[-1][1]


def test_latest_checkpoint_is_the_highest_step_among_many(tmp_path):
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in (1, 12, 5, 3):
        save_checkpoint(tmp_path, f"c{step}", model, optimizer, {"step": step, "elapsed": 0.0, "history": []})
    assert [s for s, _ in checkpoint_records(tmp_path)] == [1, 3, 5, 12]
    assert latest_checkpoint(tmp_path).name == "c12.json"


def test_optimizer_scalars_survive_a_checkpoint(tmp_path):
    """L-BFGS keeps plain numbers (function evaluations, iterations) beside its tensors."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=4)
    x, y = torch.randn(8, 3), torch.randn(8, 1)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    record = save_checkpoint(tmp_path, "c", model, optimizer, {"step": 1, "elapsed": 0.0, "history": []})
    fresh = torch.optim.LBFGS(model.parameters(), max_iter=4)
    load_checkpoint(record, model, fresh)
    saved, loaded = optimizer.state_dict()["state"][0], fresh.state_dict()["state"][0]
    assert loaded["func_evals"] == saved["func_evals"] > 0 and loaded["n_iter"] == saved["n_iter"] > 0


def test_only_the_last_checkpoints_are_kept(tmp_path, problem):
    model = build_model("lpd", problem, width=4, iterations=1)
    Trainer(model, problem, out=tmp_path, batch_size=2, steps_per_epoch=1, val_size=2, keep=2).fit(epochs=4)
    assert [s for s, _ in checkpoint_records(tmp_path / "checkpoints")] == [3, 4]
    assert len(list((tmp_path / "checkpoints").glob("*.safetensors"))) == 2


def test_resume_removes_the_temporary_files_of_interrupted_writes(trained_run, problem):
    run, model, *_ = trained_run
    orphans = [run / ".training.json.1234.tmp", run / "checkpoints" / ".step-00000009.safetensors.99.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half a file")
    assert Trainer(model, problem, out=run, batch_size=2, steps_per_epoch=3, val_size=2).resume()
    assert not any(orphan.exists() for orphan in orphans)


def test_resume_without_a_checkpoint_says_so_and_the_run_starts_seeded(tmp_path, problem):
    def first_loss(out, resume):
        model = build_model("lpd", problem, width=4, iterations=1)
        trainer = Trainer(model, problem, out=out, batch_size=2, steps_per_epoch=1, val_size=2, seed=3)
        if resume:
            assert trainer.resume() is False  # nothing to resume from
        return trainer.fit(epochs=1, resume=resume)[0]["loss"]

    torch.manual_seed(123)
    fresh = first_loss(tmp_path / "fresh", False)
    torch.manual_seed(456)  # the global state must not matter: the run seeds itself
    assert first_loss(tmp_path / "resumed", True) == fresh


def test_a_run_without_a_folder_writes_no_checkpoints(tmp_path, problem, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = build_model("lpd", problem, width=4, iterations=1)
    history = Trainer(model, problem, batch_size=2, steps_per_epoch=1, val_size=2).fit(epochs=2)
    assert len(history) == 2 and not any(tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="the point is a machine without a GPU")
def test_a_checkpoint_written_on_a_gpu_machine_resumes_on_a_cpu():
    from inverselab.training.checkpoint import _rng_state, _set_rng_state

    saved = _rng_state()
    saved["rng/cuda"] = torch.zeros(16, dtype=torch.uint8)  # what a GPU machine adds
    torch.rand(5)
    _set_rng_state(saved)  # restores the CPU generator and leaves CUDA alone
    assert torch.equal(torch.get_rng_state(), saved["rng/torch"])


def test_truncated_checkpoint_is_refused_with_the_fix(trained_run, problem):
    run, *_ = trained_run
    record = latest_checkpoint(run / "checkpoints")
    tensors = record.with_suffix(".safetensors")
    tensors.write_bytes(tensors.read_bytes()[:-100])
    model = build_model("lpd", problem, width=8, iterations=2)
    with pytest.raises(InputError, match="does not match its record.*delete both files"):
        load_checkpoint(record, model)
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:50])
    with pytest.raises(InputError, match="not a valid safetensors file"):
        load_weights(weights, model)


def test_weights_of_another_architecture_are_refused(tmp_path, problem):
    path = save_weights(tmp_path / "w.safetensors", build_model("lpd", problem, width=8, iterations=2))
    with pytest.raises(InputError, match="do not fit this model"):
        load_weights(path, build_model("lpd", problem, width=8, iterations=3))


class _Payload:
    """Unpickling this runs code: it creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_malicious_pickle_is_refused_without_running(tmp_path, problem, suffix):
    marker = tmp_path / "pwned"
    evil = tmp_path / f"weights{suffix}"
    with open(evil, "wb") as fh:
        pickle.dump({"weight": _Payload(marker)}, fh)
    model = build_model("lpd", problem, width=8, iterations=2)
    with pytest.raises(InputError, match="refused|not a valid safetensors"):
        load_weights(evil, model)
    assert not marker.exists()


def test_plain_tensor_pt_files_load(tmp_path, problem):
    model = build_model("lpd", problem, width=8, iterations=2)
    draws = torch.Generator().manual_seed(0)
    with torch.no_grad():  # away from the initialisation, where every network is the baseline
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=draws))
    torch.save(model.state_dict(), tmp_path / "w.pt")
    fresh = build_model("lpd", problem, width=8, iterations=2)
    y = problem.simulate(problem.sample_truth(2, seed=0), seed=1)
    with torch.no_grad():
        assert not torch.allclose(fresh(y), model(y)), "the saved and the fresh network agree before loading"
        assert set(load_weights(tmp_path / "w.pt", fresh)) == set(model.state_dict())
        torch.testing.assert_close(fresh(y), model(y), rtol=0, atol=0)


def test_hdf5_cache_matches_on_the_fly_and_resumes(tmp_path, problem):
    path = generate_hdf5(problem, 6, tmp_path / "pairs.h5", chunk=4)
    cache, live = HDF5Pairs(path, problem), OnTheFly(problem, 6)
    a, b = cache.get([5, 0, 5]), live.get([5, 0, 5])
    torch.testing.assert_close(a.truth, b.truth)
    torch.testing.assert_close(a.y, b.y)
    # an interrupted generation: only the first chunk recorded, the rest garbage
    with h5py.File(path, "r+") as fh:
        fh.attrs["completed"] = 4
        fh["truth"][4:] = -1
    with pytest.raises(InputError, match="incomplete.*resume"):
        HDF5Pairs(path, problem)
    generate_hdf5(problem, 6, path, chunk=4)
    torch.testing.assert_close(HDF5Pairs(path, problem).get([4, 5]).truth, live.get([4, 5]).truth)


def test_hdf5_cache_rejects_other_problems_and_corrupt_files(tmp_path, problem):
    path = generate_hdf5(problem, 2, tmp_path / "pairs.h5")
    other = il.make_problem("ct-parallel", size=32, views=20)
    with pytest.raises(InputError, match="was generated for"):
        HDF5Pairs(path, other)
    with pytest.raises(InputError, match="different dataset"):
        generate_hdf5(problem, 3, path)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(InputError, match="not a readable"):
        HDF5Pairs(bad, problem)
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        generate_hdf5(problem, 2, bad)
