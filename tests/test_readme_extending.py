"""The plugin examples of the documentation (docs/user_guide/extending.rst) run as written: an
operator with an exact adjoint and a preset, a method and a model, all usable through the
registries."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

import inverselab as il
from inverselab.methods import METHODS
from inverselab.models import MODELS, build_model
from inverselab.operators import dottest
from inverselab.problems import PROBLEMS

PAGE = Path(__file__).resolve().parents[1] / "docs" / "user_guide" / "extending.rst"
NAMES = {PROBLEMS: "smooth-1d", METHODS: "landweber", MODELS: "refiner"}


@pytest.fixture(scope="module")
def examples():
    text = PAGE.read_text()
    found = re.findall(r"^\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", text, flags=re.M)
    blocks = [textwrap.dedent(b) for b in found]
    assert len(blocks) == 3
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(PAGE), "exec"), namespace)  # noqa: S102 - our own documentation
    yield namespace
    for registry, name in NAMES.items():  # leave the registries as the other tests expect them
        registry._entries.pop(name, None)


def test_the_example_operator_has_an_exact_adjoint(examples):
    assert dottest(examples["MovingAverage"](64, width=5)) < 1e-10


def test_the_example_preset_method_and_model_work_together(examples):
    problem = il.make_problem("smooth-1d", n="64")
    assert problem.config["n"] == 64
    x, y = problem.test_data(4, seed=0)
    start = float(((problem.baseline(y) - x).norm() / x.norm()))
    estimate, _ = il.reconstruct(problem, y, "landweber", iters="200")
    assert float((estimate - x).norm() / x.norm()) < start
    tik, _ = il.reconstruct(problem, y, "tikhonov")
    assert tik.shape == x.shape and float((tik - x).norm() / x.norm()) < start
    assert "landweber" in il.methods.available_methods(problem)
    with pytest.raises(il.InputError, match="iters must be an integer"):
        il.make_method("landweber", problem, iters=2.5)
    ct = il.make_problem("ct-parallel", size=16, views=8)
    net = build_model("refiner", ct, width=3)
    assert net(ct.test_data(2, seed=0)[1]).shape == (2, 1, 16, 16)
    assert [p.name for p in MODELS.get("refiner").parameters] == ["width"]
