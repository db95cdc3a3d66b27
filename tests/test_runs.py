"""Result files: atomic writes with ordinary permissions, nothing left behind on failure."""

from __future__ import annotations

import json

import pytest

from inverselab.runs import write_json_atomic


def test_atomic_write_has_the_permissions_of_an_ordinary_file(tmp_path):
    ordinary = tmp_path / "ordinary.json"
    ordinary.write_text("{}")
    path = write_json_atomic(tmp_path / "result.json", {"psnr": 30.0})
    assert json.loads(path.read_text()) == {"psnr": 30.0}
    assert path.stat().st_mode == ordinary.stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ordinary.json", "result.json"]


def test_failed_write_keeps_the_previous_result(tmp_path):
    path = write_json_atomic(tmp_path / "result.json", {"psnr": 30.0})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"psnr": 30.0}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_a_run_folder_is_locked_while_a_job_writes_into_it(tmp_path):
    import os
    import subprocess
    import sys

    from inverselab.errors import InputError
    from inverselab.runs import run_lock

    with run_lock(tmp_path / "run"):
        assert (tmp_path / "run" / ".lock").read_text() == str(os.getpid())
        holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            (tmp_path / "other").mkdir()
            (tmp_path / "other" / ".lock").write_text(str(holder.pid))
            with pytest.raises(InputError, match=f"another inverselab process \\(pid {holder.pid}\\)"):
                with run_lock(tmp_path / "other"):
                    pass
        finally:
            holder.kill()
            holder.wait()
        with run_lock(tmp_path / "other"):  # its holder is gone: the stale lock is taken over
            pass
    assert not (tmp_path / "run" / ".lock").exists()
    assert not (tmp_path / "run").exists()  # nothing was written: the folder is removed again
