"""The command line under bad input: every case of the corpus exits 2 with one line that names
the fix (or succeeds where the input is valid), in process; a sample also as subprocesses, so
that what reaches a shell (exit code, stderr, no traceback) is checked too."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import Case, cli_cases, prepare

from inverselab.cli import main

CASES = cli_cases()
SUBPROCESS = CASES[:: max(1, len(CASES) // 24)][:24]


class CaseTimeout(BaseException):
    """A case ran too long (a BaseException, so the command line cannot turn it into an error line)."""


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return prepare(tmp_path_factory.mktemp("corpus"))


def _run(case: Case, env: dict[str, str], out: Path) -> tuple[object, list[str]]:
    args = case.render(env, out)
    err = io.StringIO()

    def expire(*_):
        raise CaseTimeout("case took over 30 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(30)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, [line for line in err.getvalue().splitlines() if line.strip() and "\r" not in line
                  and not line.startswith(("training:", "generating"))]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_command_line_case(case, env, tmp_path):
    code, lines = _run(case, env, tmp_path / "out")
    verdict = case.check(code, lines)
    assert verdict is True, f"{verdict}: {lines[:3]}"
    if not case.valid:  # a refused command leaves no result behind
        assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize("case", SUBPROCESS, ids=lambda c: c.id)
def test_command_line_case_in_a_shell(case, env, tmp_path):
    args = case.render(env, tmp_path / "out")
    proc = subprocess.run([sys.executable, "-m", "inverselab", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "INVERSELAB_DEBUG": ""})
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "\r" not in line
             and not line.startswith(("training:", "generating"))]
    assert "Traceback" not in proc.stderr
    verdict = case.check(proc.returncode, lines)
    assert verdict is True, f"{verdict}: {lines[:3]}"


def test_the_corpus_is_large_and_covers_every_kind():
    kinds = {c.id.split("/")[0] for c in CASES}
    assert len(CASES) >= 500
    assert kinds >= {"number", "keyvalue", "device", "out", "name", "problem-file", "damaged", "size", "checkpoint"}
