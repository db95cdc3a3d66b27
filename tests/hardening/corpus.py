"""A corpus of bad command lines, by kind, each with the one-line error it must give.

Placeholders in the arguments are filled by :func:`prepare`'s files: ``{run}`` a trained run,
``{solved}`` a solved run, ``{file}`` a plain text file, ``{fifo}`` a named pipe, ``{dir}`` an
existing folder, ``{dangling}`` a dangling symbolic link, ``{out}`` a fresh output location,
``{h5}`` a valid HDF5 cache, ``{tmp}`` the scratch folder. ``{damaged:NAME}`` is a copy of the
trained run whose file is damaged by ``DAMAGE[NAME]``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_runs"

# A cheap problem and cheap runs for the verbs that must get past parsing.
CS = ("cs", "--set", "size=16")
SOLVE = ("solve", *CS, "--n", "1")
TRAIN = ("train", *CS, "--model", "unet", "--option", "width=4", "depth=1", "--epochs", "1",
         "--steps-per-epoch", "1", "--batch-size", "2", "--n", "1")


@dataclass(frozen=True)
class Case:
    """One command line and what it must print.

    ``expect`` is a regular expression the single error line must contain; ``valid`` marks a
    command that must succeed (exit 0) instead.
    """

    id: str
    args: tuple[str, ...]
    expect: str = ""
    valid: bool = False

    def render(self, env: dict[str, str], out: Path) -> list[str]:
        filled = []
        for arg in self.args:
            for key, value in {**env, "out": str(out)}.items():
                arg = arg.replace("{" + key + "}", value)
            filled.append(arg)
        return filled

    def check(self, code, lines: list[str]) -> bool | str:
        """True when the outcome is as promised, else what went wrong."""
        if self.valid:
            return True if code == 0 else f"valid input refused: exit {code}"
        if code != 2:
            return f"exit {code}, not 2"
        if len(lines) != 1:
            return f"{len(lines)} lines on stderr"
        if not lines[0].startswith("inverselab: error: "):
            return "not an inverselab error line"
        if self.expect and not re.search(self.expect, lines[0], re.IGNORECASE):
            return f"message lacks {self.expect!r}"
        return True


# --- numbers -----------------------------------------------------------------------------------

_INT_BAD = ["abc", "2.5", "", "nan", "inf", "-inf", "1e300", "2**70", "0x10", "true"]
_FLOAT_BAD = ["abc", "", "nan", "inf", "-inf", "1e400", "true", "1,2"]
_COUNT_BAD = _INT_BAD + ["-1", "0", "1" * 30]
_NONNEG_BAD = _INT_BAD + ["-1", "1" * 30]
_POSITIVE_BAD = _FLOAT_BAD + ["-1", "0", "-0.0"]

# verb prefix, flag, kind (count: integer >= 1, nonneg: integer >= 0, positive: number > 0, seed)
NUMERIC_FLAGS = [
    (SOLVE[:4], "--n", "count"),
    (SOLVE[:4], "--seed", "seed"),
    (("train", *CS, "--model", "unet", "--epochs", "1"), "--minutes", "positive-budget"),
    (("train", *CS, "--model", "unet"), "--epochs", "count"),
    (("train", *CS, "--model", "unet", "--epochs", "1"), "--minutes-only", "positive"),
    (("train", *CS, "--model", "unet", "--epochs", "1"), "--batch-size", "count"),
    (("train", *CS, "--model", "unet", "--epochs", "1"), "--lr", "positive"),
    (("train", *CS, "--model", "unet", "--epochs", "1"), "--steps-per-epoch", "count"),
    (("train", *CS, "--model", "unet", "--epochs", "1"), "--checkpoint-every", "nonneg"),
    (("train", *CS, "--model", "unet", "--epochs", "1"), "--keep", "nonneg"),
    (("train", *CS, "--model", "unet", "--epochs", "1"), "--ensemble", "count"),
    (("train", *CS, "--model", "unet", "--epochs", "1"), "--n", "count"),
    (("train", *CS, "--model", "unet", "--epochs", "1"), "--seed", "seed"),
    (("evaluate", "{run}"), "--n", "count"),
    (("evaluate", "{run}"), "--seed", "seed"),
    (("evaluate", "{run}"), "--batch-size", "count"),
    (("evaluate", "{run}", "--uq", "dropout"), "--samples", "count"),
    (("average", "{run}"), "--last", "count"),
    (("average", "{run}"), "--from-step", "nonneg"),
    (("stability", "{run}"), "--n", "count"),
    (("stability", "{run}"), "--n-attack", "count"),
    (("stability", "{run}"), "--levels", "positive"),
    (("stability", "{run}"), "--eps", "positive"),
    (("stability", "{run}"), "--steps", "count"),
    (("stability", "{run}"), "--tv-iters", "count"),
    (("stability", "{run}"), "--seed", "seed"),
    (("data", "generate", *CS), "--n", "count"),
    (("data", "generate", *CS, "--n", "2"), "--offset", "nonneg"),
    (("ct-file", "{file}"), "--size", "count"),
    (("demo",), "--seed", "seed"),
]


def _numeric_cases() -> list[Case]:
    cases = []
    for prefix, flag, kind in NUMERIC_FLAGS:
        if kind == "positive-budget":  # --minutes beside --epochs: one budget only
            cases.append(Case(f"number/{prefix[0]}{flag}/both-budgets", (*prefix, flag, "1", "--out", "{out}"),
                              "not allowed with|either"))
            continue
        if flag == "--minutes-only":
            prefix, flag = tuple(a for a in prefix if a not in ("--epochs", "1")), "--minutes"
        values = {"count": _COUNT_BAD, "nonneg": _NONNEG_BAD, "positive": _POSITIVE_BAD,
                  "seed": _INT_BAD + ["-1", str(2**63), "1" * 30]}[kind]
        name = flag.lstrip("-")
        for value in values:
            cases.append(Case(f"number/{'-'.join(prefix[:2]) if prefix[0] == 'data' else prefix[0]}{flag}={value!r}",
                              (*prefix, f"{flag}={value}", "--out", "{out}"), re.escape(name)))
    return cases


# --- key=value options ---------------------------------------------------------------------------

_KV_INT = ["abc", "2.5", "", "nan", "inf", "1e300", "-1", "0", "1180591620717411303424", "true", "none", "1,2"]
_KV_FLOAT = ["abc", "", "nan", "inf", "-inf", "1e300", "-0.5", "true", "1,2"]
KEY_VALUE = [
    # prefix, flag, key, bad values, expected in the message
    (("solve", "cs"), "--set", "size", _KV_INT, "size"),
    (("solve", "cs", "--set", "size=16"), "--set", "ratio", _KV_FLOAT + ["0", "1.5"], "ratio"),
    (("solve", "cs", "--set", "size=16"), "--set", "noise", _KV_FLOAT, "noise"),
    (("solve", "cs", "--set", "size=16"), "--set", "kind", ["nonsense", "", "1"], "kind"),
    (("solve", "ct-parallel", "--set", "size=16"), "--set", "views", _KV_INT, "views"),
    (("solve", "ct-parallel", "--set", "size=16"), "--set", "angle_range", _KV_FLOAT + ["0"], "angle_range"),
    (("solve", "deblur", "--set", "size=16"), "--set", "sigma", _KV_FLOAT + ["0"], "sigma"),
    (("solve", "mri", "--set", "size=16"), "--set", "acceleration", _KV_FLOAT + ["0", "0.5"], "acceleration"),
    (("solve", "inpaint", "--set", "size=16"), "--set", "fraction", _KV_FLOAT + ["1.5"], "fraction"),
    (("solve", *CS, "--n", "1", "--method", "tv"), "--param", "iters", _KV_INT, "iters"),
    (("solve", *CS, "--n", "1", "--method", "tv"), "--param", "lam", _KV_FLOAT, "lam"),
    (("solve", *CS, "--n", "1", "--method", "tikhonov"), "--param", "lam", _KV_FLOAT, "lam"),
    (("solve", *CS, "--n", "1", "--method", "wavelet"), "--param", "levels", [v for v in _KV_INT if v != "none"],
     "levels"),
    ((*TRAIN[:6], *TRAIN[9:]), "--option", "width", _KV_INT, "width"),
    ((*TRAIN[:6], *TRAIN[9:]), "--option", "dropout", ["abc", "nan", "-0.1", "1.5", "inf"], "dropout"),
    (TRAIN, "--loss-option", "l1", _KV_FLOAT, "l1"),
    (TRAIN, "--loss-option", "weighting", ["nonsense", "", "1"], "weighting"),
]


def _key_value_cases() -> list[Case]:
    cases = []
    for prefix, flag, key, values, expect in KEY_VALUE:
        for value in values:
            where = "-".join(a for a in prefix[:2] + prefix[-1:] if not a.startswith("-"))
            cases.append(Case(f"keyvalue/{where}{flag}/{key}={value!r}",
                              (*prefix, flag, f"{key}={value}", "--out", "{out}"), re.escape(expect)))
    for prefix, flag in [(SOLVE, "--set"), (("solve", *CS, "--n", "1", "--method", "tv"), "--param"),
                         (TRAIN, "--option"), (TRAIN, "--loss-option"), (("evaluate", "{run}", "--n", "1"), "--set"),
                         (("data", "generate", *CS, "--n", "2"), "--set")]:
        tag = f"keyvalue/{prefix[0]}{flag}"
        cases += [Case(f"{tag}/unknown-key", (*prefix, flag, "nonsense=1", "--out", "{out}"), "nonsense"),
                  Case(f"{tag}/no-equals", (*prefix, flag, "size", "--out", "{out}"), "key=value"),
                  Case(f"{tag}/no-key", (*prefix, flag, "=3", "--out", "{out}"), "key=value"),
                  Case(f"{tag}/twice", (*prefix, flag, "a=1", "a=2", "--out", "{out}"), "twice|more than once")]
    return cases


# --- devices -------------------------------------------------------------------------------------

DEVICES = ["cuda", "cuda:7", "nonsense", "meta", "gpu", "", "cuda:-1", "CPU:x", "xla"]


def _device_cases() -> list[Case]:
    verbs = [("solve", SOLVE), ("evaluate", ("evaluate", "{run}", "--n", "1")),
             ("uq", ("evaluate", "{run}", "--uq", "dropout", "--n", "1")),
             ("train", TRAIN)]
    cases = []
    for name, prefix in verbs:
        for device in DEVICES:
            cases.append(Case(f"device/{name}/{device!r}", (*prefix, "--device", device, "--out", "{out}"),
                              "device.*(cpu|GPU)|(cpu|GPU).*device"))
    return cases


# --- output locations ----------------------------------------------------------------------------

def _output_cases() -> list[Case]:
    verbs = {"solve": SOLVE, "train": TRAIN, "evaluate": ("evaluate", "{run}", "--n", "1"),
             "data": ("data", "generate", *CS, "--n", "2"), "stability": ("stability", "{run}", "--n", "1"),
             "average": ("average", "{run}", "--last", "1"), "ct-file": ("ct-file", "{file}"),
             "demo": ("demo", "--quick"), "uq": ("evaluate", "{run}", "--uq", "dropout", "--n", "1")}
    places = {"existing-file": ("{file}", "is a file|exists"), "below-file": ("{file}/run", "below the file"),
              "dev-null": ("/dev/null", "is a file|not a"), "dangling-link": ("{dangling}", "link"),
              "long-name": ("{tmp}/" + "n" * 300, "shorter name"), "empty": ("", "empty"),
              "fifo": ("{fifo}", "is a file|not a")}
    cases = []
    for verb, prefix in verbs.items():
        for place, (out, expect) in places.items():
            if verb == "data" and place == "existing-file":
                continue  # an existing cache is resumed: its own cases below
            cases.append(Case(f"out/{verb}/{place}", (*prefix, "--out", out), expect))
    cases += [Case("out/report/folder", ("report", "{solved}", "--out", "{dir}"), "folder"),
              Case("out/report/below-file", ("report", "{solved}", "--out", "{file}/r.html"), "below the file"),
              Case("out/report/empty", ("report", "{solved}", "--out", ""), "empty"),
              Case("out/report/long-name", ("report", "{solved}", "--out", "{tmp}/" + "n" * 300 + ".html"),
                   "shorter name"),
              Case("out/data/folder", ("data", "generate", *CS, "--n", "2", "--out", "{dir}"), "folder"),
              Case("out/data/not-hdf5", ("data", "generate", *CS, "--n", "2", "--out", "{file}"), "HDF5|h5"),
              Case("out/data/other-problem", ("data", "generate", "ct-parallel", "--set", "size=16", "--n", "2",
                                              "--out", "{h5}"), "cs|problem")]
    return cases


# --- names ---------------------------------------------------------------------------------------

def _name_cases() -> list[Case]:
    return [
        Case("name/solve/method-empty", (*SOLVE, "--method", "", "--out", "{out}"), "--method is empty"),
        Case("name/solve/method-blank", (*SOLVE, "--method", "  ", "--out", "{out}"), "--method is empty"),
        Case("name/solve/method-unknown", (*SOLVE, "--method", "tvv", "--out", "{out}"), "did you mean 'tv'"),
        Case("name/solve/method-not-applicable", (*SOLVE, "--method", "fbp", "--out", "{out}"), "fbp"),
        Case("name/solve/method-missing-run", (*SOLVE, "--method", "{tmp}/no-such-run", "--out", "{out}"),
             "method|run"),
        Case("name/solve/method-file", (*SOLVE, "--method", "{file}", "--out", "{out}"), "method|run"),
        Case("name/solve/problem-empty", ("solve", "", "--out", "{out}"), "problem is empty"),
        Case("name/solve/problem-unknown", ("solve", "ctt", "--out", "{out}"), "unknown problem"),
        Case("name/solve/problem-none", ("solve", "--out", "{out}"), "problem"),
        Case("name/solve/problem-both", ("solve", "cs", "--problem", "{file}", "--out", "{out}"), "not both"),
        Case("name/train/model-empty", (*TRAIN[:4], "--model", "", "--epochs", "1", "--out", "{out}"), "model"),
        Case("name/train/model-unknown", (*TRAIN[:4], "--model", "unett", "--epochs", "1", "--out", "{out}"),
             "model"),
        Case("name/train/loss-empty", (*TRAIN, "--loss", "", "--out", "{out}"), "loss"),
        Case("name/train/loss-unknown", (*TRAIN, "--loss", "nonsense", "--out", "{out}"), "loss"),
        Case("name/train/loss-wrong-model", (*TRAIN, "--loss", "wgan-gp", "--out", "{out}"), "loss|wgan"),
        Case("name/train/init-missing", (*TRAIN, "--init", "{tmp}/no-such-run", "--out", "{out}"), "init|run"),
        Case("name/train/init-empty", (*TRAIN, "--init", "", "--out", "{out}"), "init"),
        Case("name/train/data-missing", (*TRAIN, "--data", "{tmp}/none.h5", "--out", "{out}"), "data|exist"),
        Case("name/train/data-empty", (*TRAIN, "--data", "", "--out", "{out}"), "data"),
        Case("name/train/data-fifo", (*TRAIN, "--data", "{fifo}", "--out", "{out}"), "data|file|HDF5"),
        Case("name/train/data-text", (*TRAIN, "--data", "{file}", "--out", "{out}"), "HDF5|h5"),
        Case("name/train/curriculum-unknown", (*TRAIN, "--curriculum", "nonsense", "--out", "{out}"), "curriculum"),
        Case("name/train/multitask-malformed", (*TRAIN, "--multitask", "noise", "--out", "{out}"), "multitask"),
        Case("name/train/multitask-unknown", (*TRAIN, "--multitask", "nonsense=1,2", "--out", "{out}"), "nonsense"),
        Case("name/train/multitask-bad-value", (*TRAIN, "--multitask", "noise=0.1,nan", "--out", "{out}"),
             "noise"),
        Case("name/train/resume-nothing", (*TRAIN, "--resume", "--out", "{out}"), "resume|checkpoint"),
        Case("name/evaluate/run-empty", ("evaluate", "", "--out", "{out}"), "run is empty"),
        Case("name/evaluate/run-missing", ("evaluate", "{tmp}/none", "--out", "{out}"), "run|exist"),
        Case("name/evaluate/run-file", ("evaluate", "{file}", "--out", "{out}"), "run|folder"),
        Case("name/evaluate/run-solved", ("evaluate", "{solved}", "--out", "{out}"), "train|network|model"),
        Case("name/evaluate/uq-unknown", ("evaluate", "{run}", "--uq", "nonsense", "--out", "{out}"), "uq"),
        Case("name/evaluate/uq-no-ensemble", ("evaluate", "{run}", "--uq", "ensemble", "--n", "1", "--out",
                                              "{out}"), "ensemble|member"),
        Case("name/evaluate/uq-no-dropout", ("evaluate", "{run}", "--uq", "dropout", "--n", "1", "--out",
                                             "{out}"), "dropout"),
        Case("name/evaluate/uq-no-sampler", ("evaluate", "{run}", "--uq", "samples", "--n", "1", "--out",
                                             "{out}"), "sample|generator"),
        Case("name/stability/run-solved", ("stability", "{solved}", "--n", "1", "--out", "{out}"),
             "train|network|model"),
        Case("name/average/run-solved", ("average", "{solved}", "--last", "1", "--out", "{out}"),
             "train|checkpoint"),
        Case("name/average/too-many", ("average", "{run}", "--last", "50", "--out", "{out}"), "checkpoint"),
        Case("name/report/no-runs", ("report", "--out", "{tmp}/r.html"), "runs|required"),
        Case("name/report/missing-run", ("report", "{tmp}/none", "--out", "{tmp}/r.html"), "none|exist"),
        Case("name/report/file-run", ("report", "{file}", "--out", "{tmp}/r.html"), "folder|run"),
        Case("name/report/empty-run", ("report", "{dir}", "--out", "{tmp}/r.html"), "metrics|complete"),
        Case("name/report/empty-name", ("report", "", "--out", "{tmp}/r.html"), "empty"),
        Case("name/verb-unknown", ("sovle",), "invalid choice|sovle"),
        Case("name/no-verb", (), "required|command"),
        Case("name/data-no-verb", ("data",), "required|generate"),
        Case("name/ct-file-missing", ("ct-file", "{tmp}/none.mat", "--out", "{out}"), "none.mat"),
        Case("name/ct-file-text", ("ct-file", "{file}", "--out", "{out}"), "mat|MATLAB"),
        Case("name/ct-file-fifo", ("ct-file", "{fifo}", "--out", "{out}"), "fifo|file|pipe"),
        Case("name/ct-file-folder", ("ct-file", "{dir}", "--out", "{out}"), "folder|file"),
        Case("name/ct-file-method", ("ct-file", "{file}", "--method", "nonsense", "--out", "{out}"),
             "nonsense|method"),
    ]


# --- problem files -------------------------------------------------------------------------------

PROBLEM_FILES = {
    # name: (text of the TOML file, expected in the message)
    "garbage": ("this is [not toml", "problem file|TOML"),
    "empty": ("", "problem|preset|operator"),
    "binary": ("\x00\x01\x02", "problem file|TOML"),
    "preset-no-name": ("[preset]\nsize = 16\n", "name"),
    "preset-unknown": ("[preset]\nname = 'nonsense'\n", "unknown problem"),
    "preset-bad-size": ("[preset]\nname = 'cs'\nsize = 'big'\n", "size"),
    "preset-float-size": ("[preset]\nname = 'cs'\nsize = 16.5\n", "size"),
    "preset-negative-noise": ("[preset]\nname = 'cs'\nsize = 16\nnoise = -1.0\n", "noise"),
    "preset-nan-noise": ("[preset]\nname = 'cs'\nsize = 16\nnoise = nan\n", "noise"),
    "preset-inf-noise": ("[preset]\nname = 'cs'\nsize = 16\nnoise = inf\n", "noise"),
    "preset-unknown-key": ("[preset]\nname = 'cs'\nwidth = 16\n", "width"),
    "preset-is-string": ("preset = 'cs'\n", "preset"),
    "unknown-top": ("[presets]\nname = 'cs'\n", "presets"),
    "operator-no-factory": ("[operator]\nwidth = 3\n[data]\ntruths = 't.npy'\n", "factory"),
    "operator-bad-module": ("[operator]\nfactory = 'no_such_module_x:make'\n[data]\ntruths = 't.npy'\n",
                            "no_such_module_x"),
    "operator-bad-attr": ("[operator]\nfactory = 'math:no_such'\n[data]\ntruths = 't.npy'\n", "no_such"),
    "operator-not-callable": ("[operator]\nfactory = 'math:pi'\n[data]\ntruths = 't.npy'\n", "pi|callable"),
    "operator-unknown-class": ("[operator]\nfactory = 'NoSuchOperator'\n[data]\ntruths = 't.npy'\n",
                               "NoSuchOperator"),
    "data-missing": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n", "data|truths"),
    "truths-missing": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'none.npy'\n",
                       "none.npy"),
    "truths-nan": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'nan.npy'\n",
                   "NaN|finite"),
    "truths-complex": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'complex.npy'\n",
                       "complex"),
    "truths-wrong-shape": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'odd.npy'\n",
                           "shape"),
    "truths-text": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'text.npy'\n",
                    "text.npy"),
    "truths-object": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'object.npy'\n",
                      "object.npy|pickle|object"),
    "truths-h5-no-dataset": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\n"
                             "truths = 'cache.h5:nonsense'\n", "nonsense"),
    "truths-fifo": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'pipe'\n", "pipe"),
    "truths-empty-folder": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'emptydir'\n",
                            "emptydir|no images"),
    "measured-nan": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\nmeasurements = 'nan.npy'\n",
                     "NaN|finite"),
    "splits-bad": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'good.npy'\n"
                   "splits = [0.5, 0.5]\n", "splits"),
    "splits-negative": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'good.npy'\n"
                        "splits = [1.2, -0.1, -0.1]\n", "splits"),
    "noise-negative": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'good.npy'\n"
                       "[noise]\nsigma = -0.1\n", "sigma|noise"),
    "noise-unknown": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'good.npy'\n"
                      "[noise]\nkind = 'nonsense'\n", "kind|noise"),
    "size-zero": ("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\ntruths = 'good.npy'\nsize = 0\n",
                  "size"),
}


def _problem_file_cases() -> list[Case]:
    cases = [Case(f"problem-file/{name}", ("solve", "--problem", f"{{tmp}}/problems/{name}.toml", "--n", "1",
                                           "--out", "{out}"), expect)
             for name, (_, expect) in PROBLEM_FILES.items()]
    for verb, prefix in [("train", ("train", "--model", "unet", "--epochs", "1")),
                         ("data", ("data", "generate", "--n", "2"))]:
        cases += [Case(f"problem-file/{verb}/{name}", (*prefix, "--problem", f"{{tmp}}/problems/{name}.toml",
                                                       "--out", "{out}"), PROBLEM_FILES[name][1])
                  for name in ("garbage", "preset-unknown", "truths-nan", "operator-bad-module")]
    cases += [Case("problem-file/fifo", ("solve", "--problem", "{fifo}", "--out", "{out}"), "pipe|file|fifo"),
              Case("problem-file/folder", ("solve", "--problem", "{dir}", "--out", "{out}"), "folder|file"),
              Case("problem-file/missing", ("solve", "--problem", "{tmp}/none.toml", "--out", "{out}"),
                   "not found"),
              Case("problem-file/set-on-file", ("solve", "--problem", "{tmp}/problems/good.toml", "--set",
                                                "size=8", "--out", "{out}"), "--set"),
              Case("problem-file/valid", ("solve", "--problem", "{tmp}/problems/good.toml", "--n", "1",
                                          "--out", "{out}"), valid=True)]
    return cases


def _write_problem_files(tmp: Path) -> None:
    folder = tmp / "problems"
    folder.mkdir()
    rng = np.random.default_rng(0)
    good = rng.random((12, 1, 8, 8)).astype(np.float32)
    np.save(folder / "good.npy", good)
    bad = good.copy()
    bad[3, 0, 2, 2] = np.nan
    np.save(folder / "nan.npy", bad)
    np.save(folder / "complex.npy", good.astype(np.complex64) * (1 + 1j))
    np.save(folder / "odd.npy", good[:, :, :5, :7])
    np.save(folder / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (folder / "text.npy").write_text("not numpy")
    (folder / "emptydir").mkdir()
    os.mkfifo(folder / "pipe")
    import h5py

    with h5py.File(folder / "cache.h5", "w") as f:
        f["images"] = good
    for name, (text, _) in PROBLEM_FILES.items():
        (folder / f"{name}.toml").write_text(text)
    (folder / "good.toml").write_text("[operator]\nfactory = 'Identity'\nshape = [1, 8, 8]\n[data]\n"
                                      "truths = 'good.npy'\n[noise]\nsigma = 0.01\n")


# --- damaged run folders -------------------------------------------------------------------------

def _json_edit(name: str, edit):
    def damage(run: Path) -> None:
        data = json.loads((run / name).read_text())
        edit(data)
        (run / name).write_text(json.dumps(data))
    return damage


def _text(name: str, text: str | bytes):
    def damage(run: Path) -> None:
        (run / name).unlink(missing_ok=True)
        if isinstance(text, bytes):
            (run / name).write_bytes(text)
        else:
            (run / name).write_text(text)
    return damage


def _truncate(name: str, keep: float = 0.5):
    def damage(run: Path) -> None:
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: int(len(data) * keep)])
    return damage


def _remove(name: str):
    return lambda run: (run / name).unlink()


def _fifo(name: str):
    def damage(run: Path) -> None:
        (run / name).unlink(missing_ok=True)
        os.mkfifo(run / name)
    return damage


def _folder(name: str):
    def damage(run: Path) -> None:
        (run / name).unlink(missing_ok=True)
        (run / name).mkdir()
    return damage


def _nan_weights(run: Path) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(str(run / "model.safetensors"))
    first = next(iter(weights))
    weights[first] = weights[first].clone().fill_(float("nan"))
    save_file(weights, str(run / "model.safetensors"))


def _wrong_weights(run: Path) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(str(run / "model.safetensors"))
    first = next(iter(weights))
    weights[first] = weights[first][..., :1].contiguous()
    save_file(weights, str(run / "model.safetensors"))


def _toml_edit(old: str, new: str):
    def damage(run: Path) -> None:
        text = (run / "config.toml").read_text()
        assert old in text, old
        (run / "config.toml").write_text(text.replace(old, new))
    return damage


DAMAGE = {
    # config.toml: what the run is
    "config-garbage": (_text("config.toml", "[problem\nsize = "), "config.toml"),
    "config-binary": (_text("config.toml", b"\xff\xfe\x00\x01"), "config.toml"),
    "config-empty": (_text("config.toml", ""), "config.toml"),
    "config-truncated": (_truncate("config.toml", 0.3), "config.toml"),
    "config-missing": (_remove("config.toml"), "config.toml"),
    "config-fifo": (_fifo("config.toml"), "config.toml"),
    "config-folder": (_folder("config.toml"), "config.toml"),
    "config-no-model": (_toml_edit('[model]\nname = "unet"', '[modelx]\nname = "unet"'), "config.toml.*model"),
    "config-unknown-model": (_toml_edit('name = "unet"', 'name = "nonsense"'), "nonsense"),
    "config-model-number": (_toml_edit('name = "unet"', "name = 3"), "config.toml.*name"),
    "config-bad-size": (_toml_edit("size = 16", 'size = "big"'), "size"),
    "config-negative-size": (_toml_edit("size = 16", "size = -16"), "size"),
    "config-unknown-problem": (_toml_edit('problem = "ct-parallel"', 'problem = "nonsense"'), "nonsense"),
    "config-width-text": (_toml_edit("width = 4", 'width = "four"'), "width"),
    "config-options-string": (_toml_edit("[model.options]\nwidth = 4\ndepth = 1", 'options = "x"'),
                              "config.toml.*options"),
    "config-batch-text": (_toml_edit("[training]\nbatch_size = 2", '[training]\nbatch_size = "two"'),
                          "config.toml.*training.batch_size"),
    # weights
    "weights-missing": (_remove("model.safetensors"), "model.safetensors"),
    "weights-garbage": (_text("model.safetensors", b"garbage" * 10), "model.safetensors"),
    "weights-truncated": (_truncate("model.safetensors"), "model.safetensors"),
    "weights-empty": (_text("model.safetensors", b""), "model.safetensors"),
    "weights-nan": (_nan_weights, "model.safetensors.*(NaN|finite)"),
    "weights-wrong-shape": (_wrong_weights, "model.safetensors"),
    "weights-fifo": (_fifo("model.safetensors"), "model.safetensors"),
    "weights-folder": (_folder("model.safetensors"), "model.safetensors"),
    # training.json: the history
    "history-garbage": (_text("training.json", "{not json"), "training.json"),
    "history-truncated": (_truncate("training.json"), "training.json"),
    "history-list": (_text("training.json", "[]"), "training.json"),
    "history-no-history": (_json_edit("training.json", lambda d: d.pop("history")), "training.json.*history"),
    "history-bad-entry": (_json_edit("training.json", lambda d: d["history"].append("x")), "training.json.*history"),
    "history-bad-loss": (_json_edit("training.json", lambda d: d["history"][0].update(loss="low")),
                         "training.json.*loss"),
    "history-nan-loss": (_text("training.json", '{"history": [{"epoch": 1, "step": 2, "loss": NaN, "seconds": 1}]}'),
                         "training.json.*loss"),
    "history-fifo": (_fifo("training.json"), "training.json"),
    # metrics.json: the scores
    "metrics-garbage": (_text("metrics.json", "{{"), "metrics.json"),
    "metrics-truncated": (_truncate("metrics.json"), "metrics.json"),
    "metrics-list": (_text("metrics.json", "[1, 2]"), "metrics.json"),
    "metrics-no-problem": (_json_edit("metrics.json", lambda d: d.pop("problem")), "metrics.json.*problem"),
    "metrics-psnr-text": (_json_edit("metrics.json", lambda d: d.update(psnr="high")), "metrics.json.*psnr"),
    "metrics-psnr-nan": (_text("metrics.json", '{"problem": "ct-parallel", "method": "unet", "n": 1, "psnr": NaN, '
                                               '"ssim": 0.5, "rel_error": 0.1, "seconds_per_sample": 1}'),
                         "metrics.json.*psnr"),
    "metrics-n-negative": (_json_edit("metrics.json", lambda d: d.update(n=-3)), "metrics.json.*n"),
    "metrics-fifo": (_fifo("metrics.json"), "metrics.json"),
    "metrics-missing": (_remove("metrics.json"), "metrics.json|complete"),
    # samples.safetensors: the reconstructions shown
    "samples-garbage": (_text("samples.safetensors", b"\x00" * 64), "samples.safetensors"),
    "samples-truncated": (_truncate("samples.safetensors"), "samples.safetensors"),
    "samples-fifo": (_fifo("samples.safetensors"), "samples.safetensors"),
    # results of other verbs, read by report
    "uq-garbage": (_text("uq-dropout.json", "nonsense"), "uq-dropout.json"),
    "uq-missing-keys": (_text("uq-dropout.json", '{"problem": "ct-parallel"}'), "uq-dropout.json"),
    "uq-wrong-types": (_text("uq-dropout.json", '{"problem": "ct-parallel", "model": "unet", "uq": "dropout", "n": 1, '
                                                '"raw": 3, "calibrated": [], "scale": "x"}'), "uq-dropout.json"),
    "stability-garbage": (_text("stability.json", "[[["), "stability.json"),
    "stability-missing-keys": (_text("stability.json", '{"sweep": {}}'), "stability.json"),
    "stability-wrong-types": (_text("stability.json", '{"levels": "a", "sweep": 1, "attack": null}'),
                              "stability.json"),
}

# which verbs read which damaged file
_READERS = {
    "config": ["evaluate", "stability", "resume", "solve-method", "solve-problem"],
    "weights": ["evaluate", "stability", "solve-method", "uq"],
    "history": ["report"],
    "metrics": ["report"],
    "samples": ["report"],
    "uq": ["report"],
    "stability": ["report"],
}

_VERBS = {
    "evaluate": ("evaluate", "{damaged}", "--n", "1", "--out", "{out}"),
    "uq": ("evaluate", "{damaged}", "--uq", "dropout", "--n", "1", "--samples", "2", "--out", "{out}"),
    "report": ("report", "{damaged}", "--out", "{out}.html"),
    "stability": ("stability", "{damaged}", "--n", "1", "--n-attack", "1", "--steps", "1", "--tv-iters", "2",
                  "--out", "{out}"),
    "average": ("average", "{damaged}", "--last", "1", "--out", "{out}"),
    "resume": ("train", "--problem", "{damaged}/config.toml", "--model", "unet", "--epochs", "2", "--resume",
               "--out", "{damaged}"),
    "solve-method": ("solve", "ct-parallel", "--set", "size=16", "views=8", "--n", "1", "--method", "{damaged}",
                     "--out", "{out}"),
    "solve-problem": ("solve", "--problem", "{damaged}/config.toml", "--n", "1", "--out", "{out}"),
}


_READ_ONLY_PROBLEM = {"config-unknown-problem"}  # a run of the user's own problem is re-bound, not refused
_PROBLEM_DAMAGE = {"config-garbage", "config-binary", "config-empty", "config-truncated", "config-missing",
                   "config-fifo", "config-folder", "config-bad-size", "config-negative-size", "config-unknown-problem"}


def _damaged_cases() -> list[Case]:
    cases = []
    for name, (_, expect) in DAMAGE.items():
        for verb in _READERS[name.split("-")[0]]:
            if verb == "solve-problem" and name not in _PROBLEM_DAMAGE:
                continue  # the [problem] table is intact: the problem is solved as described
            if verb == "solve-method" and name in _READ_ONLY_PROBLEM:
                continue
            if verb in ("resume", "solve-problem") and name in ("config-missing", "config-folder"):
                expect_here = "config.toml|exist|folder"
            else:
                expect_here = expect
            args = tuple(a.replace("{damaged}", "{damaged:" + name + "}") for a in _VERBS[verb])
            cases.append(Case(f"damaged/{name}/{verb}", args, expect_here))
    return cases


def damaged_run(tmp: Path, name: str) -> Path:
    """A copy of the trained fixture run (with uq and stability results) damaged by ``DAMAGE[name]``."""
    run = tmp / "damaged" / name
    if not run.exists():
        shutil.copytree(tmp / "run", run)
        DAMAGE[name][0](run)
    return run


# --- sizes and budgets ---------------------------------------------------------------------------

_HUGE = str(2**31 - 1)


def _size_cases() -> list[Case]:
    big = [("cs-size", ("solve", "cs", "--set", f"size={_HUGE}")),
           ("cs-gaussian", ("solve", "cs", "--set", "size=1024", "kind=gaussian")),
           ("ct-size", ("solve", "ct-parallel", "--set", "size=200000")),
           ("ct-views", ("solve", "ct-parallel", "--set", "size=64", f"views={_HUGE}")),
           ("mri-coils", ("solve", "mri", "--set", "size=4096", "coils=100000")),
           ("deblur-size", ("solve", "deblur", "--set", "size=300000")),
           ("solve-n", (*SOLVE[:4], "--n", _HUGE)),
           ("evaluate-n", ("evaluate", "{run}", "--n", _HUGE)),
           ("train-batch", (*TRAIN[:-2], "--batch-size", _HUGE)),
           ("data-size", ("data", "generate", "cs", "--set", f"size={_HUGE}", "--n", "2")),
           ("train-size", ("train", "cs", "--set", "size=400000", "--model", "unet", "--epochs", "1"))]
    return [Case(f"size/{name}", (*args, "--out", "{out}"), "needs at least .* available") for name, args in big]


def _checkpoint_cases() -> list[Case]:
    verbs = {"resume": ("train", "--problem", "{ckpt:NAME}/config.toml", "--model", "unet", "--epochs", "3",
                        "--steps-per-epoch", "1", "--batch-size", "2", "--option", "width=4", "depth=1", "--keep", "0",
                        "--resume", "--n", "1", "--out", "{ckpt:NAME}"),
             "average": ("average", "{ckpt:NAME}", "--last", "1", "--out", "{out}")}
    return [Case(f"checkpoint/{name}/{verb}", tuple(a.replace("NAME", name) for a in args), expect)
            for name, (_, expect) in CHECKPOINT_DAMAGE.items() for verb, args in verbs.items()]


def _latest(run: Path) -> tuple[Path, Path]:
    record = sorted((run / "checkpoints").glob("step-*.json"))[-1]
    return record, record.with_suffix(".safetensors")


def _ckpt_tensors(edit):
    def damage(run: Path) -> None:
        _, tensors = _latest(run)
        edit(tensors)
    return damage


def _ckpt_nan(run: Path) -> None:
    import hashlib

    from safetensors.torch import load, save

    record, tensors = _latest(run)
    state = load(tensors.read_bytes())
    name = next(k for k in state if k.startswith("model/") and state[k].is_floating_point())
    state[name] = state[name].clone().fill_(float("nan"))
    data = save(state, metadata={"format": "inverselab-checkpoint/1"})
    tensors.write_bytes(data)
    meta = json.loads(record.read_text())
    meta["sha256"] = hashlib.sha256(data).hexdigest()
    record.write_text(json.dumps(meta))


CHECKPOINT_DAMAGE = {
    "tensors-truncated": (_ckpt_tensors(lambda p: p.write_bytes(p.read_bytes()[:100])), "checkpoint.*delete"),
    "tensors-missing": (_ckpt_tensors(lambda p: p.unlink()), "checkpoint.*delete"),
    "tensors-garbage": (_ckpt_tensors(lambda p: p.write_bytes(b"x" * 200)), "checkpoint.*delete"),
    "tensors-fifo": (_ckpt_tensors(lambda p: (p.unlink(), os.mkfifo(p))), "named pipe"),
    "tensors-nan": (_ckpt_nan, "NaN"),
}


# --- the whole corpus ----------------------------------------------------------------------------

def cli_cases() -> list[Case]:
    cases = (_numeric_cases() + _key_value_cases() + _device_cases() + _output_cases() + _name_cases()
             + _problem_file_cases() + _damaged_cases() + _size_cases() + _checkpoint_cases())
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1][:3]
    return cases


def prepare(tmp: Path) -> dict[str, str]:
    """Create the files the placeholders name; return the placeholder values."""
    run = tmp / "run"
    shutil.copytree(FIXTURES / "train-unet", run)
    (run / "uq-dropout.json").write_text(json.dumps({
        "problem": "ct-parallel", "model": "unet", "uq": "dropout", "n": 1, "samples": 2, "scale": 1.0,
        "raw": {"coverage_90": 0.9, "width_90": 0.1}, "calibrated": {"coverage_90": 0.9, "width_90": 0.1},
        "psnr_of_mean": 20.0}))
    (run / "stability.json").write_text(json.dumps({"problem": "ct-parallel", "table": "| a |"}))
    solved = tmp / "solved"
    shutil.copytree(FIXTURES / "solve-tv", solved)
    (tmp / "file").write_text("a plain file\n")
    os.mkfifo(tmp / "fifo")
    (tmp / "dir").mkdir()
    (tmp / "dangling").symlink_to(tmp / "nowhere" / "at-all")
    _write_problem_files(tmp)
    from inverselab.cli import main

    h5 = tmp / "cache.h5"
    assert main(["data", "generate", *CS, "--n", "2", "--out", str(h5)]) == 0
    env = {"run": str(run), "solved": str(solved), "file": str(tmp / "file"), "fifo": str(tmp / "fifo"),
           "dir": str(tmp / "dir"), "dangling": str(tmp / "dangling"), "tmp": str(tmp), "h5": str(h5)}
    for name in DAMAGE:
        env[f"damaged:{name}"] = str(damaged_run(tmp, name))
    trained = tmp / "trained"
    assert main([*TRAIN[:-2], "--epochs", "2", "--keep", "0", "--n", "1", "--out", str(trained)]) == 0
    for name, (damage, _) in CHECKPOINT_DAMAGE.items():
        run = tmp / "checkpointed" / name
        shutil.copytree(trained, run)
        damage(run)
        env[f"ckpt:{name}"] = str(run)
    return env
