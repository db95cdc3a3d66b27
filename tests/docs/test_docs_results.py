"""The numbers on the results pages are those of ``benchmarks/results/*.json``.

The results pages render their tables with ``docs/_ext/benchmark_tables.py`` at build time.
These tests call the renderer directly and check every number of every table against the JSON
file, resolving the path each number names and recomputing it independently (a number in a
cell that names no path fails, so nothing can be typed in by hand), to the precision shown.
Labels (method names and the file's own keys) are text and are not checked.
"""

from __future__ import annotations

import json
import math
import re
import statistics

import pytest
from docs_helpers import DOCS, ROOT  # puts docs/_ext on the path

import benchmark_tables as bt  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.(\d+))?(?:e([-+]?\d+))?")
DIRECTIVE = re.compile(r"^\.\. benchmark:: (\S+)$", re.MULTILINE)
ROLE = re.compile(r":bench:`([^`]+)`")
# every benchmark whose results the project reports (at least one table each)
REPORTED = [
    "operators", "tv", "learned_ct", "learned_consistency", "learned_mri", "learned_schedules", "learned_deblur",
    "learned_htc", "label_free", "label_free_ssdu", "kill_trials", "presets", "tune_defaults", "htc2022",
    "pinn_diffusion", "pinn_heat", "pinn_poisson", "pinn_lorenz", "pinn_wave", "scaling", "gravity_hartousov",
    "impedance", "fwi_marmousi", "fwi_marmousi_lbfgs", "fwi_vs_nn",
    "fwi_vs_nn_cwgan_crps", "fwi_baseline", "joint_optimization", "learned_radio_sources", "learned_radio_hubble",
    "source_estimation", "inverse_design", "uq_ct", "stability_ct", "pnp_deblur", "pnp_ct",  "distillation", "pod_vs_full", "learned_scale", "learned_scale_seconds", "real_data_centre",
]
OPTIONAL = ["demo_busy", "generative_prior"]


def resolve(data, path):
    for key in path:
        data = data[key]
    return data


def expected(data, num: bt.Num) -> float:
    """The number a cell should show, recomputed from the raw JSON."""
    values = [resolve(data, p) for p in num.paths]
    op = {
        "value": lambda v: float(v[0]),
        "ratio": lambda v: float(v[0]) / float(v[1]),
        "diff": lambda v: float(v[0]) - float(v[1]),
        "median": lambda v: statistics.median(v[0]),
        "min": lambda v: min(v[0]),
        "max": lambda v: max(v[0]),
    }[num.op]
    return op(values) * num.scale


def check_text(text: str, nums: list, data) -> list[str]:
    """Mismatches between the numbers written in ``text`` and the values they stand for."""
    found = list(NUMBER.finditer(text))
    if len(found) != len(nums):
        return [f"{text!r}: {len(found)} numbers shown, {len(nums)} taken from the file"]
    errors = []
    for match, num in zip(found, nums):
        shown = float(match.group(0).replace(",", ""))
        decimals, exponent = len(match.group(1) or ""), int(match.group(2) or 0)
        value = expected(data, num)
        tolerance = 0.5 * 10.0 ** (exponent - decimals) * (1 + 1e-9)
        if "g" in num.spec:  # significant digits: relative rounding
            digits = len(match.group(0).replace(",", "").lstrip("+-").replace(".", "").split("e")[0].lstrip("0"))
            tolerance = max(tolerance, 0.5 * abs(value) * 10.0 ** (1 - max(digits, 1)) * (1 + 1e-9))
        if not (math.isfinite(value) and abs(shown - value) <= tolerance):
            errors.append(f"{text!r}: shows {shown}, the file gives {value}")
    return errors


def names_on_pages() -> set[str]:
    return {m for page in (DOCS / "results").glob("*.rst") for m in DIRECTIVE.findall(page.read_text())}


@pytest.mark.parametrize("name", REPORTED + [n for n in OPTIONAL if (RESULTS / f"{n}.json").exists()])
def test_tables_show_the_numbers_of_the_file(name):
    data = json.loads((RESULTS / f"{name}.json").read_text())
    tables = bt.tables(name, data)
    assert tables and all(t.rows for t in tables), f"{name}: no table rendered"
    errors = []
    for table in tables:
        assert table.command and table.source == name
        for row in table.rows:
            assert len(row) == len(table.columns), f"{name}/{table.key}: row of {len(row)} cells"
            for cell in row:
                if not cell.label:
                    errors += check_text(cell.text, cell.nums, data)
    assert not errors, "\n".join(errors)


def test_every_reported_benchmark_is_on_a_results_page():
    missing = sorted(set(REPORTED + OPTIONAL) - names_on_pages())
    assert not missing, f"benchmarks without a table on the results pages: {missing}"


def test_every_table_names_its_command_machine_and_commit():
    for name in REPORTED:
        for table in bt.tables(name):
            text = "\n".join(bt.to_rst(table))
            assert "Command: ``" in text and "Machine: " in text and "Commit: " in text, name


def test_inline_numbers_in_the_prose_come_from_the_files():
    errors = []
    for page in (DOCS / "results").glob("*.rst"):
        for spec in ROLE.findall(page.read_text()):
            name = spec.rsplit(":", 2)[0]
            num = bt.inline(spec)
            errors += check_text(str(num), [num], json.loads((RESULTS / f"{name}.json").read_text()))
    assert not errors, "\n".join(errors)


#: A result written as a number with its unit: decibels, a speed-up, a coverage.
RESULT_NUMBER = re.compile(r"\d+(?:\.\d+)?\s*(?:dB\b|×(?!\s*\d)|x (?:faster|slower)|times (?:faster|slower)|% coverage)")
#: Method settings written with such a unit (not results).
SETTINGS = {"within 0.05 dB"}


def _prose(text: str) -> str:
    """The text of a page without roles, directives (and their indented bodies) and literals."""
    text = ROLE.sub("", text)
    text = re.sub(r"``[^`]*``", "", text)
    kept, in_block = [], False
    for line in text.splitlines():
        if line.startswith(".. ") or line.rstrip().endswith("::"):
            in_block = True
            continue
        if in_block and (not line.strip() or line.startswith((" ", "\t"))):
            continue
        in_block = False
        kept.append(line)
    return "\n".join(kept)


def test_results_prose_has_no_typed_in_results():
    found = []
    for page in sorted((DOCS / "results").glob("*.rst")) + [DOCS / "index.rst", ROOT / "README.md"]:
        prose = _prose(page.read_text())
        for setting in SETTINGS:
            prose = prose.replace(setting, "")
        found += [f"{page.name}: {m.group(0)!r}" for m in RESULT_NUMBER.finditer(prose)]
    assert not found, "write these as :bench: references to their JSON key: " + ", ".join(found)


def test_a_missing_optional_file_renders_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(bt, "RESULTS", tmp_path)
    with pytest.raises(FileNotFoundError):
        bt.load("demo_busy")
