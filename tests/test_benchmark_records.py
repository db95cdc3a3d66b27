"""Every benchmark result records how it was made, and ``benchmarks/reproduce.py`` checks reruns.

The walk over ``benchmarks/results`` fails for a file without the run record that
``benchmarks/_common.py`` writes (command, commit, versions including the peers the script uses,
device, threads, load). Files written before that record existed are listed in
:data:`PRE_RECORD`; each must still lack it, so a rerun takes it off the list.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
sys.path.insert(0, str(BENCHMARKS))

import _common  # noqa: E402
import reproduce  # noqa: E402

#: Results written before benchmarks recorded their command and versions; rerun, they leave the list.
PRE_RECORD = {
    "demo_busy", "distillation", "fwi_baseline", "fwi_marmousi", "fwi_marmousi_lbfgs", "gravity_hartousov",
    "htc2022", "impedance", "inverse_design", "joint_optimization", "kill_trials", "label_free",
    "label_free_ssdu", "learned_consistency", "learned_ct", "learned_deblur", "learned_htc", "learned_mri",
    "learned_radio_hubble", "learned_radio_sources", "learned_scale", "learned_scale_seconds",
    "learned_schedules", "operators", "pinn_diffusion", "pinn_heat", "pinn_lorenz", "pinn_poisson", "pinn_wave",
    "pnp_ct", "pnp_deblur", "pod_vs_full", "presets", "scaling", "source_estimation", "stability_ct",
    "tune_defaults", "tv", "uq_ct",
}
#: Peer libraries each script uses (distribution names as recorded in ``versions``).
PEERS_BY_SCRIPT = {
    "benchmarks/tv.py": {"deepinv", "astra-toolbox"},
    "benchmarks/operators.py": {"astra-toolbox", "deepinv", "scikit-image"},
}
RESULT_FILES = sorted(RESULTS.glob("*.json"))


def _record_problems(env: dict) -> list[str]:
    problems = []
    if not env.get("command"):
        problems.append("no command")
    if not re.fullmatch(r"[0-9a-f]{40}", str(env.get("commit", ""))):
        problems.append(f"commit {env.get('commit')!r} is not a full hash")
    if not isinstance(env.get("dirty"), list):
        problems.append("no list of uncommitted files")
    versions = env.get("versions") or {}
    if not {"python", "torch", "inverselab"} <= set(versions):
        problems.append(f"versions {sorted(versions)} lack python, torch or inverselab")
    device = env.get("device") or {}
    if not device.get("cpu") or "gpu" not in device:
        problems.append("no device")
    if not isinstance(env.get("threads"), int):
        problems.append("no thread count")
    if not isinstance(env.get("load"), dict):
        problems.append("no load record")
    command = shlex.split(env.get("command") or "x")
    script = next((part for part in command if part.endswith(".py")), "")
    missing = PEERS_BY_SCRIPT.get(script, set()) - set(versions)
    if missing:
        problems.append(f"{script} uses {sorted(missing)} but their versions are not recorded")
    return problems


def test_pre_record_list_names_existing_files():
    names = {p.stem for p in RESULT_FILES}
    assert PRE_RECORD <= names, f"rerun or removed, take off PRE_RECORD: {sorted(PRE_RECORD - names)}"


@pytest.mark.parametrize("path", RESULT_FILES, ids=lambda p: p.stem)
def test_result_records_how_it_was_made(path):
    data = json.loads(path.read_text())
    blocks = {"full": data} | ({"quick": data["quick"]} if "quick" in data else {})
    for label, block in blocks.items():
        env = block.get("environment") or {}
        if label == "full" and path.stem in PRE_RECORD:
            assert "command" not in env, f"{path.name} now has a run record: take it off PRE_RECORD"
            continue
        assert not _record_problems(env), f"{path.name} ({label}): {_record_problems(env)}"


@pytest.mark.parametrize("path", [p for p in RESULT_FILES if "quick" in json.loads(p.read_text())], ids=lambda p: p.stem)
def test_quick_blocks_name_numbers_to_check(path):
    block = json.loads(path.read_text())["quick"]
    checks = reproduce.compare(path.stem, block, block)
    assert checks and all(c.ok for c in checks), f"{path.name}: its reproduce keys match nothing in its own block"
    assert "--quick" in block["environment"]["command"]


def test_at_least_five_benchmarks_have_quick_blocks_including_a_peer_and_a_learned_one():
    quick = {p.stem for p in RESULT_FILES if "quick" in json.loads(p.read_text())}
    scripts = {shlex.split(json.loads((RESULTS / f"{n}.json").read_text())["quick"]["environment"]["command"])[1]
               for n in quick}
    assert len(scripts) >= 5, sorted(scripts)
    assert scripts & set(PEERS_BY_SCRIPT), "no peer comparison among the quick blocks"
    assert {"benchmarks/learned_vs_classical.py", "benchmarks/learned_at_scale.py"} & scripts


# --- the comparison itself -------------------------------------------------------------------


RECORDED = {"reproduce": {"quality": {"rows.*.psnr": 0.3}, "ratios": ["speedup"]},
            "rows": [{"method": "tv", "psnr": 30.0}, {"method": "unet", "psnr": 32.0}], "speedup": 100.0}


def _rerun(psnr_tv: float, psnr_unet: float, speedup: float | None) -> dict:
    return {"rows": [{"method": "tv", "psnr": psnr_tv}, {"method": "unet", "psnr": psnr_unet}], "speedup": speedup}


def test_compare_names_list_items_by_their_fields():
    keys = [c.key for c in reproduce.compare("x", RECORDED, RECORDED)]
    assert keys == ["rows.tv.psnr", "rows.unet.psnr", "speedup"]


@pytest.mark.parametrize(("rerun", "failing"), [
    (_rerun(30.2, 31.8, 140.0), []),                       # within 0.3 dB and a factor 1.5
    (_rerun(30.4, 32.0, 100.0), ["rows.tv.psnr"]),         # 0.4 dB off
    (_rerun(30.0, 32.0, 160.0), ["speedup"]),              # a factor 1.6 faster
    (_rerun(30.0, 32.0, 60.0), ["speedup"]),               # a factor 1.67 slower
    (_rerun(30.0, 32.0, None), ["speedup"]),               # missing in the rerun
    ({"rows": [{"method": "tv", "psnr": 30.0}], "speedup": 100.0}, ["rows.unet.psnr"]),
])
def test_compare_applies_the_tolerances(rerun, failing):
    checks = reproduce.compare("x", RECORDED, rerun)
    assert [c.key for c in checks if not c.ok] == failing


def test_a_pattern_that_matches_nothing_fails():
    recorded = {**RECORDED, "reproduce": {"quality": {"rows.*.ssim": 0.01}}}
    checks = reproduce.compare("x", recorded, recorded)
    assert [c.ok for c in checks] == [False]


def test_table_sums_up_each_pattern():
    text = reproduce.table(reproduce.compare("x", RECORDED, _rerun(30.4, 32.0, 100.0)))
    assert "| x | rows.*.psnr | quality | 2 | rows.tv.psnr | 30 | 30.4 | ±0.3 | FAIL (1) |" in text
    assert "| x | speedup | ratio | 1 | speedup | 100 | 100 | ×1.5 | pass |" in text


# --- the run record ----------------------------------------------------------------------------


@pytest.fixture
def fresh_run(monkeypatch, tmp_path):
    monkeypatch.setattr(_common._Run, "started", None)
    monkeypatch.setattr(_common._Run, "load", None)
    monkeypatch.setattr(_common._Run, "quick", False)
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    return tmp_path


def test_uncommitted_changes_stop_a_run_with_the_fix(fresh_run, monkeypatch):
    monkeypatch.setattr(_common, "_uncommitted", lambda: ["src/inverselab/solvers/proximal.py"])
    with pytest.raises(SystemExit, match="proximal.py.*commit them.*--allow-dirty"):
        _common.BenchmarkParser().parse_args([])


def test_allow_dirty_runs_and_marks_the_results(fresh_run, monkeypatch):
    monkeypatch.setattr(_common, "_uncommitted", lambda: ["src/inverselab/solvers/proximal.py"])
    _common.BenchmarkParser().parse_args(["--allow-dirty"])
    env = json.loads(_common.save("r", {"x": 1}).read_text())["environment"]
    assert env["dirty"] == ["src/inverselab/solvers/proximal.py"]
    assert not _record_problems(env)


def test_quick_runs_fill_the_quick_block_and_full_runs_keep_it(fresh_run, monkeypatch):
    monkeypatch.setattr(_common, "_uncommitted", lambda: [])
    parser = _common.BenchmarkParser()
    parser.add_argument("--quick", action="store_true")
    _common.write_json_atomic(fresh_run / "r.json", {"x": 1})
    parser.parse_args(["--quick"])
    _common.save("r", {"x": 2}, reproduce={"quality": {"x": 0.1}})
    data = json.loads((fresh_run / "r.json").read_text())
    assert data["x"] == 1 and data["quick"]["x"] == 2 and data["quick"]["reproduce"] == {"quality": {"x": 0.1}}
    monkeypatch.setattr(_common._Run, "quick", False)
    _common.save("r", {"x": 3})
    data = json.loads((fresh_run / "r.json").read_text())
    assert data["x"] == 3 and data["quick"]["x"] == 2


def test_an_unreadable_earlier_file_never_costs_the_new_result(fresh_run, monkeypatch):
    monkeypatch.setattr(_common, "_uncommitted", lambda: [])
    (fresh_run / "r.json").write_text("{not json")
    _common.BenchmarkParser().parse_args([])
    assert json.loads(_common.save("r", {"x": 4}).read_text())["x"] == 4


def test_every_benchmark_script_parses_with_the_recording_parser():
    skipped = {"_common.py", "_deepxde_diffusion.py", "peers.py", "peers_tv.py", "reproduce.py"}
    for script in sorted(BENCHMARKS.glob("*.py")):
        if script.name in skipped:
            continue
        text = script.read_text()
        assert "BenchmarkParser(" in text and "argparse.ArgumentParser(" not in text, script.name
