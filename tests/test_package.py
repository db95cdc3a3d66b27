"""Package-level behaviour: lazy import, public names."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_lazy_and_light():
    code = "import sys, inverselab; assert 'torch' not in sys.modules, 'torch imported eagerly'; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_lazy_attributes_resolve():
    import inverselab as il

    assert callable(il.make_problem) and callable(il.list_problems) and callable(il.make_method)
    assert il.operators.ParallelBeam2D.__name__ == "ParallelBeam2D"
    assert issubclass(il.InputError, ValueError)
    try:
        il.no_such_thing
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("unknown attribute did not raise")
