"""No assertion in the test suite holds whatever the code does: comparisons of an expression
with itself, and ``min(S) <= s`` (``max(S) >= s``) with ``s`` written inside ``S``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

#: Calls with no side effects and no randomness: ``f(x) == f(x)`` is as tautological as ``x == x``
#: (any other call may legitimately be compared with itself, e.g. to check determinism).
PURE_CALLS = {"abs", "bool", "float", "int", "len", "list", "max", "min", "round", "set", "sorted", "str", "sum", "tuple"}

#: Functions that compare their first two arguments.
EQUALITY_CALLS = {"equal", "allclose", "isclose", "array_equal", "assert_close", "assert_allclose", "assert_array_equal",
                  "assert_equal"}

#: ``min(S) OP s`` and ``s OP min(S)`` (and ``max``) that hold for every ``s`` in ``S``.
ALWAYS_TRUE = {("min", ast.LtE, "left"), ("min", ast.GtE, "right"), ("max", ast.GtE, "left"), ("max", ast.LtE, "right")}


def _is_pure(node: ast.expr) -> bool:
    """Whether ``node`` evaluates to the same value twice in a row (no calls but pure builtins)."""
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        if isinstance(sub, ast.Call) and not (isinstance(sub.func, ast.Name) and sub.func.id in PURE_CALLS):
            return False
    return True


def _same(a: ast.expr, b: ast.expr) -> bool:
    return ast.dump(a) == ast.dump(b)


def _approx_argument(node: ast.expr) -> ast.expr:
    """``x`` for ``pytest.approx(x, ...)`` (or ``approx(x)``), else ``node`` itself."""
    if isinstance(node, ast.Call) and node.args:
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name == "approx":
            return node.args[0]
    return node


def _members(call: ast.Call) -> list[ast.expr]:
    """The expressions written inside ``S`` of ``min(S)`` / ``max(a, b, ...)``."""
    if len(call.args) > 1:
        return list(call.args)
    if len(call.args) == 1 and isinstance(call.args[0], (ast.List, ast.Tuple, ast.Set)):
        return list(call.args[0].elts)
    return []


def _constant(node: ast.expr) -> float | None:
    """The value of an arithmetic expression of number literals (``1 + 1e-6``), else None."""
    if not all(isinstance(sub, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop)) for sub in ast.walk(node)):
        return None
    value = eval(compile(ast.Expression(node), "<constant>", "eval"), {"__builtins__": {}})  # literals only
    return float(value) if isinstance(value, (int, float)) else None


def _element(s: ast.expr, kind: str) -> ast.expr:
    """``e`` for ``s`` = ``e * k``, ``e + k`` or ``e - k`` with a constant ``k`` that loosens the
    comparison against the extreme ``kind`` (a factor >= 1 or a shift >= 0 for min, the other
    way for max)."""
    if not isinstance(s, ast.BinOp) or not isinstance(s.op, (ast.Mult, ast.Add, ast.Sub)):
        return s
    pairs = [(s.left, s.right)] if isinstance(s.op, ast.Sub) else [(s.left, s.right), (s.right, s.left)]
    neutral = 1.0 if isinstance(s.op, ast.Mult) else 0.0
    for e, k in pairs:
        value = _constant(k)
        if value is not None:
            value = -value if isinstance(s.op, ast.Sub) else value
            if value >= neutral if kind == "min" else value <= neutral:
                return e
    return s


def _inside(s: ast.expr, call: ast.Call, kind: str) -> bool:
    """Whether ``s`` (up to a loosening tolerance) is literally an element of the collection
    ``call`` takes the extreme of: one of its listed elements, or a subscript ``S[i]`` of its
    single argument ``S``."""
    s = _element(s, kind)
    if any(_same(s, member) for member in _members(call)):
        return True
    return (len(call.args) == 1 and isinstance(s, ast.Subscript) and _same(s.value, call.args[0])
            and not isinstance(s.slice, ast.Slice))


def _extreme(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max") and node.args:
        return node.func.id
    return None


def tautologies(source: str) -> list[tuple[int, str]]:
    """``(line, description)`` of every always-true comparison in a Python source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for op, a, b in zip(node.ops, operands, operands[1:]):
                b_value = _approx_argument(b)
                if isinstance(op, (ast.Eq, ast.LtE, ast.GtE, ast.Is)) and _same(a, b_value) and _is_pure(a):
                    found.append((node.lineno, f"compares {ast.unparse(a)} with itself"))
                for side, extreme, other in (("left", a, b), ("right", b, a)):
                    kind = _extreme(extreme)
                    if kind and (kind, type(op), side) in ALWAYS_TRUE and _inside(other, extreme, kind):
                        found.append((node.lineno, f"{ast.unparse(extreme)} against its own element {ast.unparse(other)}"))
        elif isinstance(node, ast.Call) and len(node.args) >= 2:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in EQUALITY_CALLS and _same(node.args[0], node.args[1]) and _is_pure(node.args[0]):
                found.append((node.lineno, f"{name} of {ast.unparse(node.args[0])} with itself"))
    return found


@pytest.mark.parametrize("source", [
    "assert x == x",
    "assert a.b[0] <= a.b[0]",
    "assert 0 < v and float(v) >= float(v)",
    "assert torch.equal(y, y)",
    "assert v == pytest.approx(v)",
    "assert min(losses) <= losses[-1]",
    "assert losses[0] >= min(losses)",
    "assert max(a, b) >= a",
    "assert min([a, b, c]) <= c",
    "assert max(h['loss']) >= h['loss'][3]",
    "assert min(h['loss']) <= h['loss'][-1] * (1 + 1e-6) or done",
    "assert max(s) >= s[0] - 0.5",
])
def test_the_check_flags_tautologies(source):
    assert tautologies(source), f"not flagged: {source}"


@pytest.mark.parametrize("source", [
    "assert x == y",
    "assert f(x) == f(x)",  # a call may legitimately be checked for determinism
    "assert min(losses) < losses[-1]",
    "assert min(losses) >= losses[-1]",
    "assert min(a) <= b[-1]",
    "assert max(losses) >= limit",
    "assert min(losses[1:]) <= losses[1:]",
    "assert torch.equal(x, x.clone().add_(1))",
    "assert min(s) <= s[-1] * (1 - 1e-6)",
    "assert max(s) >= s[0] + 0.5",
])
def test_the_check_accepts_real_comparisons(source):
    assert not tautologies(source), f"flagged: {source}"


def test_no_assertion_in_the_suite_is_a_tautology():
    found = [f"{path.relative_to(TESTS.parent)}:{line}: {what}"
             for path in sorted(TESTS.rglob("*.py")) for line, what in tautologies(path.read_text())]
    assert not found, "comparisons that cannot fail:\n" + "\n".join(found)
