"""Mutation testing of the core functions with cosmic-ray: resumable, one session per group.

For each group of ``config.toml`` the driver keeps, under ``runs/mutation/<group>/``:

* ``tree/``: a copy of the package and its tests (tracked and unignored files of the working
  tree) that cosmic-ray mutates in place, so the repository itself is never touched;
* ``session.sqlite``: cosmic-ray's work database: every mutant of the group's modules, those
  outside the listed functions (or of an operator not used) marked skipped, and each result as
  soon as it is known, so an interrupted run continues where it stopped;
* ``state.json``: the hashes of the mutated sources and the duration of the unmutated tests.

Each mutant runs the group's fast tests (``pytest -x -m "not slow"``) with ``PYTHONPATH`` on the
copy; a failing run (or one over the timeout) kills it. ``runs/mutation/report.md`` sums up the
killed and surviving mutants of every group and lists the survivors.

Usage (from the repository root; cosmic-ray installed, ``make mutate`` does both)::

    .venv/bin/python tools/mutation/run_mutation.py                     # every group, to the end
    .venv/bin/python tools/mutation/run_mutation.py mri --limit 20      # a slice of one group
    .venv/bin/python tools/mutation/run_mutation.py --minutes 60        # stop after an hour
    .venv/bin/python tools/mutation/run_mutation.py --count             # mutants per group, no run
    .venv/bin/python tools/mutation/run_mutation.py --report            # the report, no run
    .venv/bin/python tools/mutation/run_mutation.py ct --fresh          # start the group anew
    .venv/bin/python tools/mutation/run_mutation.py tv --survivors      # retest survivors with today's tests
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cosmic_ray.commands import init
from cosmic_ray.mutating import mutate_and_test
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkItem, WorkResult

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("config.toml")
STATE = REPO / "runs" / "mutation"
PYTHON = Path(sys.executable)
SKIP_OUTSIDE = "outside the targeted functions"
SKIP_OPERATOR = "operator not used"
#: What a copy holds: the package and its tests (with the pytest settings of pyproject.toml).
COPIED = ("src/", "tests/", "pyproject.toml")


@dataclass(frozen=True)
class Group:
    """Modules and functions to mutate, and the tests that must kill their mutants."""

    name: str
    functions: dict[str, tuple[str, ...]]
    tests: tuple[str, ...]

    @property
    def directory(self) -> Path:
        return STATE / self.name

    @property
    def tree(self) -> Path:
        return self.directory / "tree"

    @property
    def session(self) -> Path:
        return self.directory / "session.sqlite"

    @property
    def state(self) -> Path:
        return self.directory / "state.json"

    def test_command(self) -> str:
        return shlex.join([str(PYTHON), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                           *self.tests])


def load_config() -> tuple[list[Group], dict]:
    config = tomllib.loads(CONFIG.read_text())
    groups = [Group(name, {path: tuple(names) for path, names in spec["functions"].items()}, tuple(spec["tests"]))
              for name, spec in config["groups"].items()]
    return groups, config


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_tree(target: Path, parts: tuple[str, ...] = COPIED) -> None:
    """Copy the package and the tests (``parts``) from the working tree (tracked and unignored
    files) to ``target``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", *parts], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    for relative in filter(None, listed.split("\0")):
        source = REPO / relative
        if source.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)


def definitions(source: str) -> list[tuple[int, int, str]]:
    """``(first line, last line, qualified name)`` of every function and class, outermost first
    (``Class.method``; a nested function is named after its enclosing chain)."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                first = min([d.lineno for d in child.decorator_list] + [child.lineno])
                found.append((first, child.end_lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def targeted(line: int, defs: list[tuple[int, int, str]], names: tuple[str, ...]) -> str | None:
    """The listed name whose definition encloses ``line``, else None."""
    for first, last, qualified in defs:
        if first <= line <= last and qualified in names:
            return qualified
    return None


def create_session(group: Group, operators: list[str]) -> None:
    """Copy the tree, list every mutant of the group's modules and skip the untargeted ones."""
    if group.directory.exists():
        shutil.rmtree(group.directory)
    group.tree.mkdir(parents=True)
    copy_tree(group.tree)
    used = re.compile("|".join(f"(?:{o})" for o in operators))
    os.chdir(group.tree)
    with use_db(str(group.session)) as db:
        init([Path(p) for p in group.functions], db, {})
        defs = {p: definitions(Path(p).read_text()) for p in group.functions}
        skipped: dict[str, list[str]] = {SKIP_OPERATOR: [], SKIP_OUTSIDE: []}
        for item in db.work_items:
            mutation = item.mutations[0]
            path = mutation.module_path.as_posix()
            # NumberReplacer yields two mutants per literal, +1 (even occurrence) then -1
            shift_down = mutation.operator_name == "core/NumberReplacer" and mutation.occurrence % 2 == 1
            if not used.fullmatch(mutation.operator_name) or shift_down:
                skipped[SKIP_OPERATOR].append(item.job_id)
            elif targeted(mutation.start_pos[0], defs[path], group.functions[path]) is None:
                skipped[SKIP_OUTSIDE].append(item.job_id)
        for reason, job_ids in skipped.items():
            db.set_multiple_results(job_ids, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=reason))
    hashes = {p: _sha256(group.tree / p) for p in group.functions}
    group.state.write_text(json.dumps({"sources": hashes}, indent=1))


def restore_sources(group: Group) -> dict:
    """Check the copy's sources against the session's (restoring a file left mutated by an
    interrupted run); returns the state."""
    state = json.loads(group.state.read_text())
    for path, digest in state["sources"].items():
        if _sha256(REPO / path) != digest:
            raise SystemExit(f"{path} changed since the {group.name} session began: rerun with --fresh {group.name}")
        if _sha256(group.tree / path) != digest:
            shutil.copy2(REPO / path, group.tree / path)
    return state


def baseline(group: Group, state: dict) -> float:
    """Seconds of the unmutated tests (measured once per session); they must pass."""
    if "baseline_seconds" not in state:
        start = time.perf_counter()
        done = subprocess.run(shlex.split(group.test_command()), capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{group.name}: the unmutated tests fail, nothing to measure:\n{done.stdout[-3000:]}")
        state["baseline_seconds"] = time.perf_counter() - start
        group.state.write_text(json.dumps(state, indent=1))
    return state["baseline_seconds"]


def retest_survivors(group: Group) -> int:
    """Put the group's survivors back to pending under the working tree's current tests (the
    mutated sources must be unchanged); returns how many."""
    restore_sources(group)
    shutil.rmtree(group.tree / "tests")
    copy_tree(group.tree, ("tests/", "pyproject.toml"))
    state = json.loads(group.state.read_text())
    state.pop("baseline_seconds", None)  # the tests changed: measure them again
    group.state.write_text(json.dumps(state, indent=1))
    job_ids = [item.job_id for item, _ in summary(group)[1]]
    with sqlite3.connect(group.session) as db:
        db.executemany("DELETE FROM work_results WHERE job_id = ?", [(j,) for j in job_ids])
    return len(job_ids)


def _order(item: WorkItem) -> tuple:
    m = item.mutations[0]
    return (str(m.module_path), m.start_pos, m.operator_name, m.occurrence)


def run_group(group: Group, config: dict, limit: int | None, deadline: float | None) -> int:
    """Test pending mutants of ``group`` (in source order) until done, ``limit`` or ``deadline``;
    returns how many ran."""
    state = restore_sources(group)
    os.chdir(group.tree)
    os.environ["PYTHONPATH"] = str(group.tree / "src")
    timeout = max(config["min-timeout"], config["timeout-factor"] * baseline(group, state))
    ran = 0
    with use_db(str(group.session), WorkDB.Mode.open) as db:
        pending = sorted(db.pending_work_items, key=_order)
        for item in pending:
            if (limit is not None and ran >= limit) or (deadline is not None and time.time() > deadline):
                break
            result = mutate_and_test(item.mutations, group.test_command(), timeout)
            db.set_result(item.job_id, result)
            ran += 1
            m = item.mutations[0]
            outcome = result.test_outcome.value if result.test_outcome else result.worker_outcome.value
            print(f"{group.name} {ran}/{len(pending)} {outcome:>11}  {m.module_path}:{m.start_pos[0]} {m.operator_name}",
                  flush=True)
    return ran


def summary(group: Group) -> tuple[dict[str, int], list[tuple[WorkItem, WorkResult]]]:
    """Counts by outcome of the targeted mutants, and the survivors."""
    counts = {"mutants": 0, "killed": 0, "timeout": 0, "survived": 0, "incompetent": 0, "pending": 0}
    survivors = []
    with use_db(str(group.session), WorkDB.Mode.open) as db:
        done = {item.job_id: result for item, result in db.completed_work_items}
        for item in db.work_items:
            result = done.get(item.job_id)
            if result is not None and result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            counts["mutants"] += 1
            if result is None:
                counts["pending"] += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                counts["survived"] += 1
                survivors.append((item, result))
            elif result.test_outcome == TestOutcome.KILLED:
                counts["timeout" if result.output == "timeout" else "killed"] += 1
            else:  # the mutated code could not run at all (exception in the worker, no mutation)
                counts["incompetent"] += 1
    return counts, sorted(survivors, key=lambda s: _order(s[0]))


def report(groups: list[Group]) -> str:
    """Markdown: a table of outcomes per group, then every survivor with its diff."""
    lines = ["| group | mutants | tested | killed | timeout | survived | incompetent | pending |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    details = []
    for group in groups:
        if not group.session.exists():
            continue
        c, survivors = summary(group)
        tested = c["mutants"] - c["pending"]
        lines.append(f"| {group.name} | {c['mutants']} | {tested} | {c['killed']} | {c['timeout']} | {c['survived']} | "
                     f"{c['incompetent']} | {c['pending']} |")
        defs_cache: dict[str, list] = {}
        for item, result in survivors:
            m = item.mutations[0]
            path = m.module_path.as_posix()
            defs = defs_cache.setdefault(path, definitions((group.tree / path).read_text()))
            where = targeted(m.start_pos[0], defs, group.functions[path])
            details += [f"### {group.name}: {path}:{m.start_pos[0]} ({where}), {m.operator_name}", "",
                        "```diff", (result.diff or "").strip(), "```", ""]
    return "\n".join(lines + ([""] + ["## Survivors", ""] + details if details else []))


def main() -> int:
    groups, config = load_config()
    names = [g.name for g in groups]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help=f"groups to run (default: all of {', '.join(names)})")
    parser.add_argument("--limit", type=int, help="test at most this many mutants per group")
    parser.add_argument("--minutes", type=float, help="stop starting new mutants after this many minutes")
    parser.add_argument("--fresh", action="store_true", help="discard the groups' sessions and start anew")
    parser.add_argument("--count", action="store_true", help="create the sessions and print the mutant counts only")
    parser.add_argument("--report", action="store_true", help="print the report of the sessions so far only")
    parser.add_argument("--survivors", action="store_true",
                        help="test the survivors again with the working tree's current tests")
    args = parser.parse_args()
    unknown = sorted(set(args.groups) - set(names))
    if unknown:
        parser.error(f"unknown groups {unknown}: choose from {', '.join(names)}")
    chosen = [g for g in groups if not args.groups or g.name in args.groups]
    if not args.report:
        deadline = time.time() + 60 * args.minutes if args.minutes is not None else None
        for group in chosen:
            if args.fresh or not group.session.exists():
                create_session(group, config["operators"])
            elif args.survivors:
                print(f"{group.name}: {retest_survivors(group)} survivors to test again", flush=True)
            if not args.count:
                run_group(group, config, args.limit, deadline)
            os.chdir(REPO)
    text = report(chosen)
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "report.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
