"""Every test that reads ``../shared/data`` (through ``conftest.data_file``) carries the
``realdata`` marker, so ``-m "not realdata"`` selects exactly the tests that need no data."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _is_realdata_mark(node: ast.expr) -> bool:
    """``pytest.mark.realdata`` (or a list of marks holding it)."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(_is_realdata_mark(e) for e in node.elts)
    return isinstance(node, ast.Attribute) and node.attr == "realdata"


def _calls_data_file(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "data_file" for n in ast.walk(node))


def unmarked_realdata_tests(source: str) -> list[tuple[int, str]]:
    """``(line, name)`` of the test functions in ``source`` that call ``data_file`` unmarked."""
    tree = ast.parse(source)
    module_marked = any(
        isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets)
        and _is_realdata_mark(node.value) for node in tree.body
    )
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and _calls_data_file(node):
            if not module_marked and not any(_is_realdata_mark(d) for d in node.decorator_list):
                found.append((node.lineno, node.name))
    return found


def test_the_check_finds_an_unmarked_reader():
    source = "def test_a():\n    data_file('x')\n\n@pytest.mark.realdata\ndef test_b():\n    data_file('y')\n"
    assert unmarked_realdata_tests(source) == [(1, "test_a")]
    assert unmarked_realdata_tests("pytestmark = [pytest.mark.realdata]\n" + source) == []


def test_tests_that_read_shared_data_are_marked_realdata():
    found = [f"{path.relative_to(TESTS.parent)}:{line}: {name}"
             for path in sorted(TESTS.rglob("test_*.py")) for line, name in unmarked_realdata_tests(path.read_text())]
    assert not found, "tests reading ../shared/data without @pytest.mark.realdata:\n" + "\n".join(found)
