"""Optional extras: deepwave (``inverselab[seismic]``) and scikit-image (``inverselab[data]``).

Without them the package imports, lists its problems and solves the problems that do not need
them; a feature that needs a missing extra raises one InputError line naming the extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from inverselab.errors import InputError, require


def _hide(monkeypatch: pytest.MonkeyPatch, top: str) -> None:
    """Make ``top`` and its submodules unimportable until the test ends (monkeypatch restores)."""
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, top, None)  # None in sys.modules: import raises


def test_require_returns_module_or_names_the_extra(monkeypatch):
    import math

    assert require("math", "data", "x") is math
    _hide(monkeypatch, "skimage")
    with pytest.raises(InputError) as err:
        require("skimage.filters", "data", "the thing", package="scikit-image")
    msg = str(err.value)
    assert msg == "the thing needs the optional package scikit-image: pip install 'inverselab[data]'"
    assert "\n" not in msg


def test_require_reports_a_broken_install(monkeypatch, tmp_path):
    (tmp_path / "brokenextra_xyz.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    pattern = r"installed but failed to import .*no_such_dependency_xyz.*inverselab\[seismic\]"
    with pytest.raises(InputError, match=pattern):
        require("brokenextra_xyz", "seismic", "the thing")


def test_acoustic_operator_without_deepwave_names_seismic_extra(monkeypatch):
    from inverselab.operators.acoustic import AcousticWave2D

    _hide(monkeypatch, "deepwave")
    # building the operator needs no deepwave; propagating does
    op = AcousticWave2D((20, 20), 10.0, 1e-3, 50, [(1, 5)], [(1, 15)], 15.0)
    v = torch.full((1, 20, 20), 2000.0, dtype=torch.float64)
    with pytest.raises(InputError, match=r"deepwave: pip install 'inverselab\[seismic\]'$"):
        op(v)
    with pytest.raises(InputError, match=r"inverselab\[seismic\]"):
        op.step_ratio(2500.0)


def test_natural_images_without_skimage_name_data_extra(monkeypatch):
    from inverselab.data import images, skies

    _hide(monkeypatch, "skimage")
    # bypass the lru caches, which may hold images loaded by earlier tests
    monkeypatch.setattr(images, "_load", images._load.__wrapped__)
    monkeypatch.setattr(skies, "_hubble_field", skies._hubble_field.__wrapped__)
    with pytest.raises(InputError, match=r"scikit-image: pip install 'inverselab\[data\]'$"):
        images.natural_image("camera", size=16)
    with pytest.raises(InputError, match=r"inverselab\[data\]"):
        skies.hubble_skies(1, 16)


def test_otsu_without_skimage_names_data_extra(monkeypatch):
    from inverselab.metrics import otsu_threshold

    _hide(monkeypatch, "skimage")
    with pytest.raises(InputError, match=r"Otsu.*scikit-image: pip install 'inverselab\[data\]'$"):
        otsu_threshold(torch.rand(1, 10))


# Run in a fresh interpreter with an import hook that refuses deepwave and scikit-image, as an
# install without extras would: nothing may import them eagerly.
_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys, tempfile
    import importlib.abc

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("deepwave", "skimage"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Block())
    import inverselab
    from inverselab.cli import main
    import inverselab.operators, inverselab.problems, inverselab.data, inverselab.metrics

    def run(argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        return {"code": code, "out": out.getvalue(), "err": err.getvalue()}

    tmp = tempfile.mkdtemp()
    result = {
        "loaded": sorted(m for m in sys.modules if m.partition(".")[0] in ("deepwave", "skimage")),
        "list": run(["list"]),
        "ct": run(["solve", "ct-parallel", "--set", "size=32", "views=16", "--n", "2", "--out", tmp + "/ct"]),
        "fwi": run(["solve", "fwi-flat", "--n", "1", "--out", tmp + "/fwi"]),
        "deblur": run(["solve", "deblur", "--n", "1", "--out", tmp + "/deblur"]),
        "tmp": tmp,
    }
    print(json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def without_extras(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("noextras")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_package_imports_without_extras(without_extras):
    assert without_extras["loaded"] == []


def test_list_without_extras(without_extras):
    res = without_extras["list"]
    assert res["code"] == 0, res["err"]
    for name in ("ct-parallel", "fwi-flat", "deblur"):
        assert name in res["out"]


def test_ct_solve_without_extras(without_extras):
    from pathlib import Path

    res = without_extras["ct"]
    assert res["code"] == 0, res["err"]
    assert "ct-parallel" in res["err"] + res["out"]
    assert any((Path(without_extras["tmp"]) / "ct").iterdir())


@pytest.mark.parametrize(
    ("problem", "extra", "package"), [("fwi", "seismic", "deepwave"), ("deblur", "data", "scikit-image")]
)
def test_cli_names_the_missing_extra_in_one_line(without_extras, problem, extra, package):
    res = without_extras[problem]
    assert res["code"] == 2
    lines = res["err"].strip().splitlines()
    assert len(lines) == 1, res["err"]
    assert lines[0].startswith("inverselab: error: ")
    assert lines[0].endswith(f"needs the optional package {package}: pip install 'inverselab[{extra}]'")
