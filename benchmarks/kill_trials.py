"""Kill -9 at a random moment of ``solve``, ``evaluate``, ``train`` and ``data generate``, then
check what is left.

For every trial the command is started, killed with SIGKILL after a random delay (uniform over
the command's measured duration) and then inspected:

* ``solve`` / ``evaluate``: ``inverselab report`` must refuse the folder, or the folder must be
  complete (its completion record ``metrics.json`` valid with a finite PSNR, the figures and,
  for ``solve``, ``config.toml`` written, the kept samples readable);
* ``train``: every checkpoint left must load (hash, tensors, finite weights), ``--resume`` must
  finish, and the final weights and history must equal those of an uninterrupted run bit for bit;
* ``data generate``: running it again must finish the cache with exactly the pairs of an
  uninterrupted run.

Usage::

    python benchmarks/kill_trials.py --trials 20
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import BenchmarkParser, save

CLI = [sys.executable, "-m", "inverselab"]
SOLVE = ["solve", "cs", "--set", "size=64", "--method", "tv", "--param", "iters=400", "tol=0", "--n", "16"]
TRAIN = ["train", "cs", "--set", "size=32", "--model", "unet", "--option", "width=8", "depth=2", "--epochs", "6",
         "--steps-per-epoch", "4", "--batch-size", "4", "--checkpoint-every", "2", "--keep", "3", "--n", "2"]
DATA = ["data", "generate", "cs", "--set", "size=64", "--n", "400"]


def run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def killed(args: list[str], delay: float) -> int | None:
    """Start ``args``, SIGKILL it after ``delay`` seconds; the exit code if it ended first."""
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    result = run(args)
    if result.returncode != 0:
        raise SystemExit(f"reference run failed: {' '.join(args)}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def complete_or_refused(out: Path, scratch: Path, needs_config: bool) -> tuple[bool, str]:
    """Whether ``report`` refuses ``out``, or ``out`` is a complete run (``evaluate --out``
    writes no ``config.toml`` of its own: the training run holds it)."""
    page = scratch / "report.html"
    page.unlink(missing_ok=True)
    result = run(["report", str(out), "--out", str(page)])
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        ok = result.returncode == 2 and len(lines) == 1 and ("metrics.json" in lines[0] or "does not exist" in lines[0])
        state = "refused (no folder yet)" if "does not exist" in result.stderr else "refused (incomplete)"
        return ok, state if ok else f"report failed: {result.stderr.strip()[-300:]}"
    metrics = json.loads((out / "metrics.json").read_text())
    figures = list((out / "figures").glob("*.png")) if (out / "figures").is_dir() else []
    complete = ((out / "config.toml").is_file() or not needs_config) and figures and "psnr" in metrics \
        and np.isfinite(metrics["psnr"])
    from safetensors.numpy import load_file

    load_file(str(out / "samples.safetensors"))
    return bool(complete), "complete" if complete else "shown but incomplete"


def trial_solve(verb: str, args: list[str], duration: float, rng: random.Random, scratch: Path) -> dict:
    out = scratch / f"{verb}-run"
    shutil.rmtree(out, ignore_errors=True)
    delay = rng.uniform(0.2, duration)
    code = killed([*args, "--out", str(out)], delay)
    ok, state = complete_or_refused(out, scratch, needs_config=verb == "solve")
    return {"delay_s": round(delay, 3), "finished_before_kill": code is not None, "state": state, "ok": ok}


def checkpoints_load(run_dir: Path) -> tuple[bool, int]:
    from inverselab.errors import InputError
    from inverselab.training.checkpoint import checkpoint_records, read_checkpoint

    records = checkpoint_records(run_dir / "checkpoints")
    try:
        for _, record in records:
            read_checkpoint(record)
    except InputError:
        return False, len(records)
    return True, len(records)


def same_training(a: Path, b: Path) -> bool:
    from safetensors.numpy import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    same_weights = wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    ha = json.loads((a / "training.json").read_text())["history"]
    hb = json.loads((b / "training.json").read_text())["history"]
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    return same_weights and strip(ha) == strip(hb)


def trial_train(reference: Path, duration: float, rng: random.Random, scratch: Path) -> dict:
    out = scratch / "train-run"
    shutil.rmtree(out, ignore_errors=True)
    delay = rng.uniform(0.2, duration)
    code = killed([*TRAIN, "--out", str(out)], delay)
    loads, count = checkpoints_load(out) if out.exists() else (True, 0)
    resumed = run([*TRAIN, "--out", str(out)] + (["--resume"] if (out / "config.toml").is_file() else []))
    identical = resumed.returncode == 0 and same_training(reference, out)
    orphans = [p.name for p in out.rglob(".*.tmp")]
    return {"delay_s": round(delay, 3), "finished_before_kill": code is not None, "checkpoints_left": count,
            "checkpoints_load": loads, "resumed_identical": identical, "orphaned_temporaries": orphans,
            "ok": loads and identical and not orphans}


def trial_data(reference: Path, duration: float, rng: random.Random, scratch: Path) -> dict:
    import h5py

    out = scratch / "pairs.h5"
    out.unlink(missing_ok=True)
    delay = rng.uniform(0.2, duration)
    code = killed([*DATA, "--out", str(out)], delay)
    again = run([*DATA, "--out", str(out)])
    identical = False
    if again.returncode == 0:
        with h5py.File(reference, "r") as ref, h5py.File(out, "r") as got:
            identical = all(np.array_equal(ref[k][...], got[k][...]) for k in ("truth", "y"))
    return {"delay_s": round(delay, 3), "finished_before_kill": code is not None, "rerun_ok": again.returncode == 0,
            "identical": identical, "ok": identical}


def main() -> None:
    parser = BenchmarkParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="kill_trials", help="results file name under benchmarks/results")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        reference_train = scratch / "train-reference"
        durations = {"train": timed([*TRAIN, "--out", str(reference_train)])}
        evaluate = ["evaluate", str(reference_train), "--n", "64"]
        durations["solve"] = timed([*SOLVE, "--out", str(scratch / "solve-reference")])
        durations["evaluate"] = timed([*evaluate, "--out", str(scratch / "evaluate-reference")])
        reference_data = scratch / "reference.h5"
        durations["data generate"] = timed([*DATA, "--out", str(reference_data)])
        print("uninterrupted durations (s):", {k: round(v, 2) for k, v in durations.items()}, flush=True)
        for verb in ("solve", "evaluate", "train", "data generate"):
            rows = []
            for i in range(args.trials):
                if verb in ("solve", "evaluate"):
                    row = trial_solve(verb, SOLVE if verb == "solve" else evaluate, durations[verb], rng, scratch)
                elif verb == "train":
                    row = trial_train(reference_train, durations[verb], rng, scratch)
                else:
                    row = trial_data(reference_data, durations[verb], rng, scratch)
                rows.append(row)
                print(f"{verb:14s} trial {i + 1:2d}: {row}", flush=True)
            results[verb] = rows
    summary = {verb: {"trials": len(rows), "ok": sum(r["ok"] for r in rows),
                      "killed_mid_run": sum(not r["finished_before_kill"] for r in rows)}
               for verb, rows in results.items()}
    record = {"config": {"trials": args.trials, "seed": args.seed, "solve": SOLVE, "train": TRAIN, "data": DATA,
                         "cpu_count": os.cpu_count()}, "summary": summary, "trials": results}
    print(f"-> {save(args.out, record)}")
    for verb, s in summary.items():
        print(f"{verb:14s} {s['ok']}/{s['trials']} as promised ({s['killed_mid_run']} killed mid-run)")
    if any(s["ok"] != s["trials"] for s in summary.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
