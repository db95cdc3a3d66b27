"""Plant known bugs in copies of the repository and check that the fast tests catch each one.

Every plant is a literal search/replace in one source file of a fresh copy of the working tree
(``/tmp/plant_<name>``, without virtual environments or run outputs); the fast tests named
for it then run against that copy (``PYTHONPATH=<copy>/src``, after checking that ``inverselab``
is imported from there). A plant is caught when pytest fails.

Usage (from the repository root)::

    .venv/bin/python tools/mutation/plant_bugs.py              # every plant
    .venv/bin/python tools/mutation/plant_bugs.py tv_prox_sign_flip mri_mask_off_centre
    .venv/bin/python tools/mutation/plant_bugs.py --control    # the unmodified copy must pass
    .venv/bin/python tools/mutation/plant_bugs.py --all-failures   # list every test that fails

Exit status 0 when every plant is caught (and, with ``--control``, the unmodified copy passes).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = Path(sys.executable)


@dataclass(frozen=True)
class Plant:
    """A bug: replace ``search`` by ``replace`` in ``path`` (every occurrence), then run ``tests``."""

    name: str
    path: str
    search: str
    replace: str
    tests: tuple[str, ...]


PLANTS = (
    Plant("unet_skips_zeroed", "src/inverselab/models/unet.py",
          "z = merge(torch.cat([up(z), skips.pop()], dim=1))",
          "z = merge(torch.cat([up(z), torch.zeros_like(skips.pop())], dim=1))",
          ("tests/models/test_unet_quality.py",)),
    Plant("history_reset_on_resume", "src/inverselab/training/trainer.py",
          'self.history = list(meta["history"])', "self.history = []",
          ("tests/training/test_resume_in_process.py",)),
    Plant("optimizer_not_restored", "src/inverselab/training/checkpoint.py",
          'optimizer.load_state_dict({"state": state, "param_groups": opt_meta["param_groups"]})', "pass",
          ("tests/training/test_resume_in_process.py", "tests/training/test_checkpoint_and_data.py")),
    Plant("rng_not_restored", "src/inverselab/training/checkpoint.py",
          "    _set_rng_state(tensors)\n", "    pass\n",
          ("tests/training/test_resume_in_process.py", "tests/training/test_checkpoint_and_data.py")),
    Plant("tv_lambda_scaled_by_norm", "src/inverselab/solvers/proximal.py",
          "lam_s = lam / scale**2", "lam_s = lam / scale",
          ("tests/solvers/test_tv_scaling.py",)),
    Plant("tv_prox_sign_flip", "src/inverselab/regularizers.py",
          "return x - t * grad.adjoint(p)", "return x + t * grad.adjoint(p)",
          ("tests/solvers/test_tv_scaling.py",)),
    Plant("mri_mask_off_centre", "src/inverselab/operators/mri.py",
          "return self.mask.to(device=x.device, dtype=x.real.dtype)",
          "return self.mask.roll(1, -1).to(device=x.device, dtype=x.real.dtype)",
          ("tests/operators/test_mri.py",)),
    Plant("crank_nicolson_weight_dropped", "src/inverselab/operators/heat.py",
          "expl = (1.0 - theta) * dt * A if theta < 1.0 else None", "expl = dt * A if theta < 1.0 else None",
          ("tests/operators/test_heat.py",)),
    Plant("crank_nicolson_source_weight_dropped", "src/inverselab/operators/heat.py",
          "rhs = rhs + dt * (theta * fs[m + 1] + (1.0 - theta) * fs[m])",
          "rhs = rhs + dt * (fs[m + 1] + (1.0 - theta) * fs[m])",
          ("tests/operators/test_heat.py",)),
    Plant("crank_nicolson_gradient_weight_dropped", "src/inverselab/operators/heat.py",
          "W = theta * U[:, 1:] + (1.0 - theta) * U[:, :-1]", "W = U[:, 1:]",
          ("tests/operators/test_heat.py",)),
)


def copy_repository(name: str) -> Path:
    """A fresh copy of the working tree at ``/tmp/plant_<name>``: the tracked files and the
    untracked ones git does not ignore (so no virtual environments, caches or run outputs)."""
    target = Path(f"/tmp/plant_{name}")
    if target.exists():
        shutil.rmtree(target)
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    for relative in filter(None, listed.split("\0")):
        source = REPO / relative
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    return target


def apply(plant: Plant, copy: Path) -> int:
    """Make the replacement in the copy; returns the number of occurrences replaced."""
    path = copy / plant.path
    text = path.read_text()
    count = text.count(plant.search)
    if count == 0:
        raise SystemExit(f"{plant.name}: search string not found in {plant.path}: {plant.search!r}")
    path.write_text(text.replace(plant.search, plant.replace))
    return count


def run_tests(copy: Path, tests: tuple[str, ...], stop_first: bool = True) -> tuple[bool, list[str]]:
    """Run the fast ``tests`` against the copy (stopping at the first failure unless
    ``stop_first`` is False); returns (passed, names of the failed tests)."""
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    where = subprocess.run([str(PYTHON), "-c", "import inverselab; print(inverselab.__file__)"], cwd=copy, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(str(copy / "src")):
        raise SystemExit(f"inverselab imported from {where}, not from the copy {copy}")
    command = ["nice", "-n", "19", str(PYTHON), "-m", "pytest", "-m", "not slow", "-q", "-rf", "-p", "no:cacheprovider"]
    done = subprocess.run([*command, *(["-x"] if stop_first else []), *tests], cwd=copy, env=env, capture_output=True,
                          text=True)
    failed = re.findall(r"^FAILED (\S+)", done.stdout, flags=re.MULTILINE)
    return done.returncode == 0, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="plants to run (default: all)")
    parser.add_argument("--control", action="store_true", help="also run every plant's tests on an unmodified copy")
    parser.add_argument("--all-failures", action="store_true", help="run all the tests of a plant, not up to the first failure")
    parser.add_argument("--keep", action="store_true", help="keep the copies in /tmp")
    args = parser.parse_args()
    known = {p.name: p for p in PLANTS}
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        parser.error(f"unknown plants {unknown}: choose from {', '.join(known)}")
    plants = [known[n] for n in args.names] if args.names else list(PLANTS)
    ok = True
    if args.control:
        copy = copy_repository("control")
        passed, failed = run_tests(copy, tuple(dict.fromkeys(t for p in plants for t in p.tests)))
        print(f"control (no plant): {'passes' if passed else 'FAILS: ' + ', '.join(failed)}", flush=True)
        ok &= passed
        if not args.keep:
            shutil.rmtree(copy)
    for plant in plants:
        copy = copy_repository(plant.name)
        count = apply(plant, copy)
        passed, failed = run_tests(copy, plant.tests, stop_first=not args.all_failures)
        verdict = "NOT CAUGHT" if passed else "caught by " + (", ".join(failed) or "a test error (see pytest output)")
        print(f"{plant.name} ({count}x in {plant.path}): {verdict}", flush=True)
        ok &= not passed
        if not args.keep:
            shutil.rmtree(copy)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
