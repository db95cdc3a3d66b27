"""Rerun recorded benchmarks and compare the new numbers with the recorded ones.

Each result file records the command that made it and, under ``reproduce``, the numbers worth
checking: quality numbers (PSNR, SSIM, errors) with an absolute tolerance, and timing ratios
(ours over a peer's, one method over another) that must agree within a factor of
:data:`RATIO_BAND`. Absolute timings are never compared: they depend on the machine. The rerun
writes into a temporary folder (``INVERSELAB_RESULTS_DIR``), so the recorded files stay as they
are.

With ``--quick`` the file's ``quick`` block is rerun (the same benchmark at a small setting,
minutes rather than hours); without it, the full run.

    .venv/bin/python benchmarks/reproduce.py --quick                       # every quick block
    .venv/bin/python benchmarks/reproduce.py benchmarks/results/tv.json --quick
    .venv/bin/python benchmarks/reproduce.py --quick --list                # what would run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
#: Timing ratios agree when the rerun's lies within this factor of the recorded one.
RATIO_BAND = 1.5
#: Fields that name a list item in a key (``rows.ct-parallel/tv.psnr`` rather than ``rows.13.psnr``).
LABEL_FIELDS = ("problem", "method", "geometry", "n", "name", "seed")


@dataclass
class Check:
    """One compared number."""

    result: str
    pattern: str
    key: str
    kind: str  # "quality" or "ratio"
    recorded: float | None
    rerun: float | None
    allowed: str

    @property
    def ok(self) -> bool:
        if self.recorded is None or self.rerun is None:
            return self.recorded is None and self.rerun is None
        if self.kind == "ratio":
            if self.recorded <= 0 or self.rerun <= 0:
                return False
            return 1 / RATIO_BAND <= self.rerun / self.recorded <= RATIO_BAND
        return abs(self.rerun - self.recorded) <= float(self.allowed.lstrip("±"))

    @property
    def deviation(self) -> float:
        """|rerun - recorded| for quality, the factor between them (>= 1) for ratios."""
        if self.recorded is None or self.rerun is None:
            return 0.0 if self.ok else math.inf
        if self.kind == "ratio":
            r = self.rerun / self.recorded if self.recorded else math.inf
            return max(r, 1 / r) if r > 0 else math.inf
        return abs(self.rerun - self.recorded) if self.recorded is not None else 0.0


def _label(key: object, value: object) -> str:
    if isinstance(value, dict):
        named = [str(value[f]) for f in LABEL_FIELDS if isinstance(value.get(f), (str, int)) and f in value]
        if named:
            return "/".join(named)
    return str(key)


def expand(tree: object, pattern: str) -> dict[str, object]:
    """The values at a dotted path; ``*`` matches every key (or list item) at its level.

    List items that are records are named by their :data:`LABEL_FIELDS`.

    >>> expand({"a": {"x": 1, "y": 2}}, "a.*")
    {'a.x': 1, 'a.y': 2}
    >>> expand({"rows": [{"method": "tv", "psnr": 30.0}]}, "rows.*.psnr")
    {'rows.tv.psnr': 30.0}
    """
    found = {"": tree}
    for part in pattern.split("."):
        step = {}
        for prefix, node in found.items():
            if isinstance(node, dict):
                items = list(node.items())
            elif isinstance(node, list):
                items = [(_label(i, v), v) for i, v in enumerate(node)]
            else:
                items = []
            for key, value in items:
                if part == "*" or str(key) == part:
                    step[f"{prefix}.{key}" if prefix else str(key)] = value
        found = step
    return found


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def compare(name: str, recorded: dict, rerun: dict) -> list[Check]:
    """Checks of every key named by ``recorded["reproduce"]`` (keys missing on either side fail)."""
    spec = recorded.get("reproduce") or {}
    checks = []
    wanted = [("quality", pattern, f"±{tol:g}") for pattern, tol in spec.get("quality", {}).items()]
    wanted += [("ratio", pattern, f"×{RATIO_BAND:g}") for pattern in spec.get("ratios", [])]
    for kind, pattern, allowed in wanted:
        old, new = expand(recorded, pattern), expand(rerun, pattern)
        if not old:
            checks.append(Check(name, pattern, pattern, kind, None, float("nan"), allowed))
        for key in old:
            checks.append(Check(name, pattern, key, kind, _number(old[key]), _number(new.get(key)), allowed))
    return checks


def block(data: dict, quick: bool) -> dict | None:
    """The part of a result file that a rerun reproduces: its quick block, or the whole file."""
    chosen = data.get("quick") if quick else data
    return chosen if chosen and chosen.get("reproduce") and chosen.get("environment", {}).get("command") else None


def rerun(path: Path, quick: bool, allow_dirty: bool) -> tuple[list[Check], float]:
    """Run the recorded command into a temporary folder; the checks and the seconds it took."""
    recorded = block(json.loads(path.read_text()), quick)
    command = shlex.split(recorded["environment"]["command"])
    if allow_dirty and "--allow-dirty" not in command:
        command.append("--allow-dirty")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "INVERSELAB_RESULTS_DIR": tmp}
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=env, check=False)
        seconds = time.perf_counter() - start
        out = Path(tmp) / path.name
        if done.returncode != 0 or not out.exists():
            failed = f"command exited {done.returncode}"
            return [Check(path.stem, failed, failed, "quality", 0.0, None, "±0")], seconds
        new = block(json.loads(out.read_text()), quick) or {}
    return compare(path.stem, recorded, new), seconds


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def table(checks: list[Check], verbose: bool = False) -> str:
    """A markdown table: one row per checked key (``verbose``), or per result and key pattern
    with the number of keys, the largest deviation and the recorded and rerun values there."""
    if verbose:
        lines = ["| result | key | kind | recorded | rerun | allowed | ok |", "|---|---|---|---:|---:|---|---|"]
        lines += [f"| {c.result} | {c.key} | {c.kind} | {_fmt(c.recorded)} | {_fmt(c.rerun)} | {c.allowed} | "
                  f"{'pass' if c.ok else 'FAIL'} |" for c in checks]
        return "\n".join(lines)
    lines = ["| result | keys | kind | n | worst key | recorded | rerun | allowed | ok |",
             "|---|---|---|---:|---|---:|---:|---|---|"]
    groups: dict[tuple[str, str], list[Check]] = {}
    for c in checks:
        groups.setdefault((c.result, c.pattern), []).append(c)
    for (result, pattern), group in groups.items():
        worst = max(group, key=lambda c: c.deviation)
        passed = sum(c.ok for c in group)
        verdict = "pass" if passed == len(group) else f"FAIL ({len(group) - passed})"
        lines.append(f"| {result} | {pattern} | {worst.kind} | {len(group)} | {worst.key} | {_fmt(worst.recorded)} | "
                     f"{_fmt(worst.rerun)} | {worst.allowed} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", type=Path, help="result files (default: every one with a block to rerun)")
    parser.add_argument("--quick", action="store_true", help="rerun the quick blocks (small settings)")
    parser.add_argument("--allow-dirty", action="store_true", help="rerun from a tree with uncommitted changes")
    parser.add_argument("--list", action="store_true", help="list the commands, run nothing")
    parser.add_argument("--verbose", action="store_true", help="one table row per checked number")
    args = parser.parse_args(argv)
    paths = args.results or sorted(p for p in RESULTS.glob("*.json") if block(json.loads(p.read_text()), args.quick))
    checks: list[Check] = []
    for path in paths:
        if not path.exists():
            sys.exit(f"error: {path} does not exist; give a file under benchmarks/results")
        recorded = block(json.loads(path.read_text()), args.quick)
        if recorded is None:
            sys.exit(f"error: {path} has no {'quick block' if args.quick else 'reproduce keys'} to rerun; "
                     f"list the files that have one with --list")
        print(f"{path.stem}: {recorded['environment']['command']}", flush=True)
        if args.list:
            continue
        found, seconds = rerun(path, args.quick, args.allow_dirty)
        print(f"  {sum(c.ok for c in found)}/{len(found)} within tolerance ({seconds:.0f} s)", flush=True)
        checks += found
    if args.list:
        return 0
    print(table(checks, args.verbose))
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)}/{len(checks)} numbers reproduced in {len(paths)} results")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
