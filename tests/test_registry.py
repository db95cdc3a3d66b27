"""Parameter checks of the registry: types, ranges, none, NaN, overflow, booleans."""

from __future__ import annotations

import pytest

from inverselab.errors import InputError
from inverselab.registry import Parameter, parameters_of

ITERS = Parameter("iters", int, 10, low=1)
LAM = Parameter("lam", float, 0.1, optional=True)
FLAG = Parameter("positive", bool, True)
KIND = Parameter("kind", str, "a", choices=("a", "b"))


@pytest.mark.parametrize("param,value,expected", [
    (ITERS, "12", 12), (ITERS, 12.0, 12), (ITERS, "1e2", 100), (LAM, "1e-3", 1e-3), (LAM, 2, 2.0),
    (LAM, "none", None), (FLAG, "yes", True), (FLAG, "0", False), (KIND, "b", "b"),
])
def test_valid_values_are_converted(param, value, expected):
    out = param.coerce(value, "m")
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize("param,value,message", [
    (ITERS, "2.5", "must be an integer"), (ITERS, 2.5, "must be an integer"), (ITERS, "0", "out of range"),
    (ITERS, "ten", "is not an integer"), (ITERS, "none", "cannot be none"), (ITERS, True, "must be an integer"),
    (ITERS, "1e300", "too large"), (LAM, "nan", "must be finite"), (LAM, "inf", "must be finite"),
    (LAM, 1e300, "too large"), (LAM, [1, 2], "must be a number"), (FLAG, "maybe", "true or false"),
    (KIND, "c", "choose one of a, b"), (KIND, {"x": 1}, "must be a string"),
])
def test_invalid_values_name_the_parameter_and_the_fix(param, value, message):
    with pytest.raises(InputError, match=message) as info:
        param.coerce(value, "method 'm'")
    assert str(info.value).startswith(f"method 'm': {param.name}") and "\n" not in str(info.value)


def test_parameters_come_from_signatures_and_numpy_docstrings():
    def solver(op, y, lam: float = 0.1, iters: int = 10, bounds=None, name: str | None = None):
        """A solver.

        Parameters
        ----------
        lam : float
            Regularisation weight. More words.
        iters : int
            Iterations.
        """

    params = {p.name: p for p in parameters_of(solver, skip=("op", "y"))}
    assert list(params) == ["lam", "iters", "bounds", "name"]
    assert params["lam"].type is float and params["lam"].help == "Regularisation weight"
    assert params["iters"].type is int and params["bounds"].type is None and params["name"].optional
