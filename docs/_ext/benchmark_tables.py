"""Tables of the results pages, rendered from ``benchmarks/results/*.json`` at build time.

No number on the results pages is typed by hand: the directive ``.. benchmark:: NAME`` reads
``benchmarks/results/NAME.json`` and renders its tables, each followed by the command that
produced it, the machine (the file's ``environment``) and the commit. Every number in a table
is a :class:`Num`, which remembers the path of the value in the JSON it came from (and, for
a derived number, the operation), so a test can check each one against the file.

Directive options: ``:table:`` picks one table of a file by its key (``none``: only the
figure), ``:figure:`` adds an image from the results folder, ``:optional:`` renders a short
note instead of failing when the file (or the figure) is absent: results still to be produced.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
DASH = "–"


# -- values ------------------------------------------------------------------------------------
def get(data, path: tuple):
    """The value at ``path`` (keys and list indices) in ``data``."""
    for key in path:
        data = data[key]
    return data


@dataclass
class Num:
    """One number shown in a table: ``value = op(values at paths) * scale`` formatted by ``spec``.

    ``op`` is ``"value"`` (one path), ``"ratio"`` (first / second), ``"diff"`` (first -
    second), ``"median"``, ``"min"`` or ``"max"`` (of the list at one path).
    """

    data: object = field(repr=False)
    paths: tuple
    spec: str = ".2f"
    scale: float = 1.0
    op: str = "value"

    @property
    def value(self) -> float:
        return compute(self.data, self.paths, self.op) * self.scale

    def __str__(self) -> str:
        return format(self.value, self.spec)


def compute(data, paths: tuple, op: str) -> float:
    """The number a :class:`Num` stands for (before its scale)."""
    values = [get(data, p) for p in paths]
    if op == "value":
        return float(values[0])
    if op == "ratio":
        return float(values[0]) / float(values[1])
    if op == "diff":
        return float(values[0]) - float(values[1])
    if op in ("median", "min", "max"):
        return float({"median": statistics.median, "min": min, "max": max}[op](values[0]))
    raise ValueError(f"unknown operation {op!r}")


@dataclass
class Cell:
    """Text with the numbers it shows, in order. A *label* (a method's name, a key of the file)
    is text, not a result."""

    template: str
    nums: list[Num] = field(default_factory=list)
    label: bool = False

    @property
    def text(self) -> str:
        return self.template.format(*[str(n) for n in self.nums])


def cell(template: str, *nums: Num) -> Cell:
    return Cell(template, list(nums))


def label(text: str) -> Cell:
    """A label (a method name, a setting): text read from the file or fixed, not a result."""
    return Cell(str(text).replace("{", "{{").replace("}", "}}"), label=True)


@dataclass
class Table:
    """One rendered table and where its numbers come from."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    source: str
    command: str
    environment: dict | None
    note: str = ""


# -- rendering ---------------------------------------------------------------------------------
def machine(env: dict | None) -> str:
    """A one-line description of the machine and software of a run (both record formats: the
    full run record with ``versions``, ``device`` and ``load``, and the older flat one)."""
    if not env:
        return "not recorded"
    if isinstance(env.get("versions"), dict):
        device = env.get("device") or {}
        parts = [device.get("cpu", "?"), f"{device.get('processor_count', '?')} CPUs"]
        if device.get("gpu"):
            parts.append(device["gpu"])
        parts.append(f"{env['threads']} torch thread{'s' if env['threads'] != 1 else ''}")
        parts.append(", ".join(f"{k} {v}" for k, v in env["versions"].items()))
        load = env.get("load") or {}
        if load:
            parts.append(f"load average {load['mean']:.1f} (max {load['max']:.1f}) during the run")
        return ", ".join(parts) + (f", {env['date']}" if env.get("date") else "")
    parts = [env.get("machine", "?")]
    if env.get("device"):
        parts.append(env["device"])
    if "processor_count" in env:
        parts.append(f"{env['processor_count']} CPUs")
    if "threads" in env:
        parts.append(f"{env['threads']} torch thread{'s' if env['threads'] != 1 else ''}")
    if env.get("python"):
        parts.append(f"Python {env['python']}")
    if env.get("torch"):
        parts.append(f"torch {env['torch']}")
    when = f", {env['date']}" if env.get("date") else ""
    return ", ".join(parts) + when


def commit(env: dict | None) -> str:
    sha = (env or {}).get("commit") or ""
    if not sha:
        return "not recorded"
    if isinstance((env or {}).get("dirty"), list):
        return f"``{sha[:10]}``" + (" with uncommitted changes" if env["dirty"] else "")
    if sha.endswith("-dirty"):
        return f"``{sha[:-6]}`` with uncommitted changes"
    return f"``{sha}``"


def to_rst(table: Table) -> list[str]:
    """The table as a ``list-table`` with its provenance below."""
    lines = [f".. list-table:: {table.title}", "   :header-rows: 1", "   :class: benchmark", ""]
    for i, row in enumerate([[label(c) for c in table.columns], *table.rows]):
        for j, c in enumerate(row):
            text = c.text or DASH
            lines.append(f"   {'* -' if j == 0 else '  -'} {text}")
    lines.append("")
    if table.note:
        lines += [table.note, ""]
    lines += [
        ".. rst-class:: benchmark-source",
        "",
        (f"   Command: ``{(table.environment or {}).get('command') or table.command}``. "
         f"Machine: {machine(table.environment)}. "
         f"Commit: {commit(table.environment)}. Data: ``benchmarks/results/{table.source}.json``."),
        "",
    ]
    return lines


# -- helpers for the per-benchmark renderers ---------------------------------------------------
def results_rows(data, columns: list[tuple[str, str, float]], key: str = "results",
                 names: list[str] | None = None, labels: dict[str, str] | None = None) -> list[list[Cell]]:
    """Rows of a ``{method: {metric: value}}`` dictionary; ``columns`` are ``(metric, spec,
    scale)``; a metric a method lacks shows a dash."""
    rows = []
    block = get(data, (key,) if isinstance(key, str) else key)
    path = (key,) if isinstance(key, str) else tuple(key)
    for name in names or list(block):
        row = [label((labels or {}).get(name, name))]
        for metric, spec, scale in columns:
            if metric in block[name] and block[name][metric] is not None:
                row.append(cell("{}", Num(data, (path + (name, metric),), spec, scale)))
            else:
                row.append(label(""))
        rows.append(row)
    return rows


def training(data, path: tuple) -> Cell:
    entry = get(data, path)
    if "training_minutes" not in entry:
        return label("")
    return cell("{} min, {} steps", Num(data, (path + ("training_minutes",),), ".0f"),
                Num(data, (path + ("training_steps",),), ".0f"))


def learned(data, name: str, reference: str, title: str, command: str) -> list[Table]:
    """The learned-against-classical tables: PSNR, SSIM, time, speed-up against a reference."""
    rows = []
    for method in data["results"]:
        entry = data["results"][method]
        if "psnr" not in entry:
            continue
        p = ("results", method)
        rows.append([
            label(method),
            cell("{}", Num(data, (p + ("psnr",),), ".2f")),
            cell("{}", Num(data, (p + ("ssim",),), ".3f")),
            cell("{}", Num(data, (p + ("seconds_per_image",),), ".4f")),
            cell("{}", Num(data, (("results", reference, "seconds_per_image"), p + ("seconds_per_image",)), ".3g",
                           op="ratio")),
            training(data, p),
        ])
    columns = ["method", "PSNR (dB)", "SSIM", "s / image", f"x faster than {reference}", "training"]
    return [Table(name, title, columns, rows, name, command, data.get("environment"))]


# -- one renderer per benchmark ----------------------------------------------------------------
RENDERERS = {}


def renders(*names: str):
    def wrap(fn):
        for n in names:
            RENDERERS[n] = fn
        return fn
    return wrap


@renders("operators")
def _operators(data, name):
    rows = []
    for i, run in enumerate(data["runs"]):
        p = ("runs", i, "results")

        def timing(method: str, threads: int, run=run, p=p) -> Cell:
            if method not in run["results"]:
                return label("")
            t = p + (method, f"threads_{threads}")
            return cell("{} [{}–{}]", Num(data, (t + ("median_ms",),), ".0f"), Num(data, (t + ("min_ms",),), ".0f"),
                        Num(data, (t + ("max_ms",),), ".0f"))

        mf = p + ("inverselab matrix-free",)
        rows.append([
            cell(f"{run['geometry']} {{}}² / {{}}", Num(data, (("runs", i, "n"),), ".0f"),
                 Num(data, (("runs", i, "views"),), ".0f")),
            timing("inverselab matrix-free", 1), timing("inverselab matrix-free", 2),
            timing("inverselab matrix", 1), timing("astra", 1),
            cell("{}x / {}x", Num(data, (mf + ("threads_1", "astra_over_this"),), ".2f"),
                 Num(data, (mf + ("threads_2", "astra_over_this"),), ".2f")),
            cell("{}", Num(data, (("runs", i, "load_average", 0),), ".1f")),
        ])
    columns = ["geometry, size / views", "ours, 1 thread", "ours, 2 threads", "stored matrix, 1 thread", "ASTRA",
               "ASTRA / ours (1 / 2 threads)", "load"]
    return [Table(name, "One forward plus one adjoint projection, ms: median [min–max]", columns, rows, name,
                  "python benchmarks/operators.py", data.get("environment"))]


@renders("tv")
def _tv(data, name):
    labels = {"ct": "CT", "deblur": "deblur", "inpaint": "inpainting", "mri": "MRI"}
    rows = []

    def solver(problem: str, key: str) -> Cell:
        s = ("problems", problem, "solvers", key)
        entry = get(data, s)
        if entry.get("seconds_to_tol") is None:
            return cell("not in {} it", Num(data, (s + ("iterations_run",),), ".0f"))
        return cell("{} s ({} it, {} ms/it)", Num(data, (s + ("seconds_to_tol", "median"),), ".3f"),
                    Num(data, (s + ("iterations_to_tol",),), ".0f"), Num(data, (s + ("ms_per_iteration",),), ".2f"))

    for problem in ("ct", "deblur", "inpaint", "mri"):
        block = data["problems"][problem]
        peers = [k for k in ("deepinv PGD", "deepinv FISTA") if k in block["solvers"]]
        pgd = [solver(problem, k) for k in peers]
        base = ("problems", problem)
        rows.append([
            label(labels[problem]),
            cell("{}", Num(data, (base + ("lam",),), "g")),
            solver(problem, "inverselab default"),
            solver(problem, "inverselab fixed"),
            solver(problem, "deepinv PDCP"),
            Cell(" / ".join(c.template for c in pgd), [n for c in pgd for n in c.nums]) if pgd else label(""),
            cell("{}x", Num(data, (base + ("solvers", "inverselab default", "speedup_vs_best_peer"),), ".2f")),
            cell("{}", Num(data, (base + ("default_over_best_fixed",),), ".2f")),
        ])
    columns = ["problem", "λ", "inverselab default", "inverselab best fixed ratio", "deepinv PDCP (tuned)",
               "deepinv PGD / FISTA", "default vs best peer", "default / best fixed"]
    return [Table(name, "Time to (F - F*) / \\|F*\\| ≤ 1e-4, median of the runs", columns, rows, name,
                  "python benchmarks/tv.py", data.get("environment"))]


_LEARNED = {
    "learned_ct": ("tv", "CT 128², 30 views, 5 % noise; 100 held-out phantoms", "ct"),
    "learned_consistency": ("fbp", "LPD trained on measurements only (no truths)", "consistency"),
    "learned_mri": ("L1-wavelet CS", "MRI 128², 4 coils, 4x; 100 held-out images", "mri"),
    "learned_schedules": ("fbp", "LPD at equal compute: plain, curriculum and multi-task training", "schedules"),
    "learned_deblur": ("tv", "Deblurring natural images (σ = 2 px, noise 0.01); 24 held-out crops", "deblur"),
    "learned_radio_sources": ("clean", "Radio skies of point and Gaussian sources; 100 held-out skies", "radio"),
    "learned_radio_hubble": ("clean", "Radio: crops of the Hubble deep field; 100 held-out crops",
                             "radio --sky hubble"),
}


@renders(*_LEARNED)
def _learned(data, name):
    reference, title, part = _LEARNED[name]
    return learned(data, name, reference, title, f"python benchmarks/learned_vs_classical.py {part}")


@renders("learned_htc")
def _learned_htc(data, name):
    rows = results_rows(data, [("mcc", ".3f", 1), ("seconds_per_image", ".3f", 1)],
                        names=[k for k in data["results"] if "mcc" in data["results"][k]])
    return [Table(name, "HTC2022 tb_category7: a U-Net trained on simulations only", ["scan, method", "MCC", "seconds"],
                  rows, name, "python benchmarks/learned_vs_classical.py htc", data.get("environment"))]


@renders("label_free")
def _label_free(data, name):
    rows = []
    for loss, title in (("consistency", "measurement consistency"), ("equivariant", "equivariant imaging")):
        runs = data["ei"]["scores"][loss]
        p = ("ei", "scores", loss)
        row = [label(title)] + [cell("{} dB", Num(data, (p + (i, "psnr"),), ".2f")) for i in range(len(runs))]
        row.append(_steps_range(data, p, len(runs)))
        rows.append(row)
    seeds = [f"seed {r['seed']}" for r in data["ei"]["scores"]["equivariant"]]
    gain = ("ei", "gain_db")
    note = (f"Gain of equivariant imaging: {Num(data, (gain + ('mean',),), '+.2f')} dB on average, "
            f"{Num(data, (gain + ('min',),), '+.2f')} dB on the worst seed.")
    return [Table(name, "Inpainting 64², half the pixels, no truths in training; PSNR on 64 held-out images",
                  ["loss (no truths)", *seeds, "training steps"], rows, name,
                  "python benchmarks/label_free.py --only ei", data.get("environment"), note)]


def _steps_range(data, path: tuple, count: int) -> Cell:
    """Smallest and largest training steps over the seeds of one arm."""
    steps = [get(data, path + (i, "training_steps")) for i in range(count)]
    lo, hi = steps.index(min(steps)), steps.index(max(steps))
    return cell("{}–{}", Num(data, (path + (lo, "training_steps"),), ".0f"),
                Num(data, (path + (hi, "training_steps"),), ".0f"))


@renders("label_free_ssdu")
def _ssdu(data, name):
    rows = []
    for loss in data["ssdu"]["scores"]:
        p = ("ssdu", "scores", loss, 0)
        rows.append([label(loss), cell("{}", Num(data, (p + ("psnr",),), ".2f")),
                     cell("{}", Num(data, (p + ("ssim",),), ".3f")),
                     cell("{}", Num(data, (p + ("training_steps",),), ".0f"))])
    return [Table(name, "Unrolled network on 4x multi-coil MRI: sample splitting against supervised training",
                  ["loss", "PSNR (dB)", "SSIM", "training steps"], rows, name,
                  "python benchmarks/label_free.py --only ssdu --out label_free_ssdu", data.get("environment"))]


@renders("kill_trials")
def _kill(data, name):
    rows = []
    for command in data["summary"]:
        p = ("summary", command)
        rows.append([label(f"``{command}``"), cell("{} / {}", Num(data, (p + ("ok",),), ".0f"),
                                                  Num(data, (p + ("trials",),), ".0f")),
                     cell("{}", Num(data, (p + ("killed_mid_run",),), ".0f"))])
    env = {"processor_count": data["config"].get("cpu_count")} if data["config"].get("cpu_count") else None
    return [Table(name, "Commands killed with SIGKILL at a random moment", ["command", "as promised",
                                                                           "killed mid-run"], rows, name,
                  "python benchmarks/kill_trials.py", env)]


_PRESET_METHODS = [("baseline", "baseline"), ("tikhonov", "Tikhonov"), ("wavelet", "L1-wavelet"),
                   ("tv", "TV (PDHG)"), ("tv-admm", "TV (ADMM)")]


@renders("presets")
def _presets(data, name):
    index = {(r["problem"], r["method"]): i for i, r in enumerate(data["rows"])}
    problems = list(dict.fromkeys(r["problem"] for r in data["rows"]))
    rows = []
    for problem in problems:
        row = [label(problem)]
        for method, _ in _PRESET_METHODS:
            i = index.get((problem, method))
            row.append(label("") if i is None else cell("{}", Num(data, (("rows", i, "psnr"),), ".2f")))
        rows.append(row)
    return [Table(name, "Mean PSNR (dB) of every preset at its defaults, 8 test samples",
                  ["problem", *[t for _, t in _PRESET_METHODS]], rows, name, "python benchmarks/presets.py",
                  data.get("environment"))]


@renders("tune_defaults")
def _tune(data, name):
    rows = []
    for problem, methods in data["results"].items():
        for method in methods:
            p = ("results", problem, method)
            rows.append([label(problem), label(method), cell("{}", Num(data, (p + ("best_lam",),), "g")),
                         cell("{}", Num(data, (p + ("best_psnr",),), ".2f"))])
    return [Table(name, "Best weight of each sweep (0.1-10x the preset's) and its PSNR (dB)",
                  ["problem", "method", "best weight", "PSNR at it"], rows, name, "python benchmarks/tune_defaults.py",
                  data.get("environment"))]


@renders("htc2022")
def _htc(data, name):
    index = {(r["scan"], r["method"]): i for i, r in enumerate(data["rows"])}
    scans = list(dict.fromkeys(r["scan"] for r in data["rows"]))
    methods = list(dict.fromkeys(r["method"] for r in data["rows"]))
    rows = []
    for scan in scans:
        row = [label(scan.removesuffix(".mat")), label(f"{data['rows'][index[(scan, methods[0])]]['arc_deg']}°")]
        for method in methods:
            i = index.get((scan, method))
            row.append(label("") if i is None else cell("{} ({} s)", Num(data, (("rows", i, "mcc"),), ".3f"),
                                                       Num(data, (("rows", i, "seconds"),), ".0f")))
        rows.append(row)
    return [Table(name, "MCC of the Otsu segmentation against the ground truth (seconds)",
                  ["scan", "arc", *methods], rows, name, "python benchmarks/htc2022.py", data.get("environment"))]


def _pinn_command(data) -> str:
    return "python benchmarks/pinn.py " + " ".join(data["config"]["argv"])


@renders("pinn_diffusion")
def _pinn_diffusion(data, name):
    rows = []
    for i, row in enumerate(data["rows"]):
        p = ("rows", i)

        def hit(peer: str, kind: str, row=row, p=p) -> Cell:
            entry = row[peer]
            if entry.get(f"{kind}_seconds") is None:
                return label("")
            return cell("{} ({})", Num(data, (p + (peer, f"{kind}_seconds"),), ".1f"),
                        Num(data, (p + (peer, f"{kind}_iteration"),), ",.0f"))

        final_seconds = {"ours": "final_seconds", "deepxde": "train_seconds"}
        cells = [label(str(row["seed"]))]
        for peer in ("ours", "deepxde"):
            cells += [hit(peer, "first_hit"), hit(peer, "settled"),
                      cell("{} ({} s)", Num(data, (p + (peer, "C_final"),), ".5f"),
                           Num(data, (p + (peer, final_seconds[peer]),), ".1f"))]
        rows.append(cells)
    columns = ["seed", "ours: first", "ours: from then on", "ours: final C", "DeepXDE: first",
               "DeepXDE: from then on", "DeepXDE: final C"]
    return [Table(name, "pinn-diffusion-1d: seconds (iterations) until \\|C - 1\\| < 0.1 %", columns, rows, name,
                  _pinn_command(data), data.get("environment"))]


@renders("pinn_heat", "pinn_poisson", "pinn_wave")
def _pinn_fields(data, name):
    rows = []
    for method in data["methods"]:
        p = ("methods", method)
        rows.append([label(method), cell("{} %", Num(data, (p + ("median_rel_error",),), ".2f", 100)),
                     cell("{}–{} %", Num(data, (p + ("min",),), ".2f", 100), Num(data, (p + ("max",),), ".2f", 100)),
                     label(str(len(data["methods"][method]["runs"]))),
                     cell("{} s", Num(data, (p + ("median_seconds",),), ".1f"))])
    problem = data["problem"]["problem"]
    return [Table(name, f"{problem}: relative L2 error of the unknown field", ["method", "median", "range", "seeds",
                                                                              "median time"],
                  rows, name, _pinn_command(data), data.get("environment"))]


@renders("pinn_lorenz")
def _pinn_lorenz(data, name):
    rows = []
    for method, entry in data["methods"].items():
        p = ("methods", method)
        row = [label(method)]
        for param in entry["parameters"]:
            q = p + ("parameters", param)
            row.append(cell("{} ({} %)", Num(data, (q + ("estimate",),), ".4g"),
                            Num(data, (q + ("rel_error",),), ".2f", 100)))
        row.append(cell("{}", Num(data, (p + ("seconds",),), ".3g")))
        rows.append(row)
    params = list(next(iter(data["methods"].values()))["parameters"])
    return [Table(name, "Lorenz parameters from 101 noisy samples (relative error)", ["method", *params, "seconds"],
                  rows, name, _pinn_command(data), data.get("environment"))]


_SCALING_LABELS = {
    "ct (matrix)": "CT pair, stored matrix", "ct (matrix-free)": "CT pair, matrix-free", "fbp": "FBP, matrix-free",
    "mri": "MRI pair (FFT, single coil)", "tv": "TV-PDHG, per iteration", "unet": "U-Net inference (FBP + net)",
    "lpd": "LPD inference (10 iterations)", "train (plain)": "LPD training step",
    "train (checkpointing)": "LPD training step, checkpointing",
}


@renders("scaling")
def _scaling(data, name):
    sizes = sorted({e["n"] for s in data["series"].values() for e in s})
    time_rows, memory_rows = [], []
    for series, entries in data["series"].items():
        by_n = {e["n"]: i for i, e in enumerate(entries)}
        p = ("series", series)
        times = [cell("{} s", Num(data, (p + (by_n[n], "seconds"),), ".3g")) if n in by_n else label("")
                 for n in sizes]
        exponent = data["exponents"].get(series)
        time_rows.append([label(_SCALING_LABELS.get(series, series)), *times,
                          cell("{}", Num(data, (("exponents", series),), ".2f")) if exponent else label("")])
        memory = [cell("{}", Num(data, (p + (by_n[n], "peak_mb"),), ".3g")) if n in by_n else label("")
                  for n in sizes]
        memory_rows.append([label(_SCALING_LABELS.get(series, series)), *memory])
    command = "python benchmarks/scaling.py"
    env = data.get("environment")
    d = ("ddp",)
    ddp = [[label(data["ddp"]["model"]), cell("{} s", Num(data, (d + ("seconds_per_step", "1"),), ".3f")),
            cell("{} s", Num(data, (d + ("seconds_per_step", "2"),), ".3f")),
            cell("{}x", Num(data, (d + ("speedup",),), ".2f")), cell("{} %", Num(data, (d + ("efficiency",),), ".0f",
                                                                                   100))]]
    return [
        Table("time", "Time of one call against n (n x n images, n views)", ["component", *map(str, sizes),
                                                                            "fitted exponent"],
              time_rows, name, command, env),
        Table("memory", "Peak memory of one call above the baseline, MB", ["component", *map(str, sizes)],
              memory_rows, name, command, env),
        Table("ddp", "Data-parallel training, weak scaling (torchrun, gloo, one thread per rank)",
              ["model", "s / step, 1 rank", "s / step, 2 ranks", "throughput gain", "efficiency"], ddp, name,
              "python benchmarks/scaling.py ddp", env),
    ]


@renders("gravity_hartousov")
def _gravity(data, name):
    rows = []
    for run in data["runs"]:
        p = ("runs", run)
        rows.append([label(run), cell("{}", Num(data, (p + ("noise_std_mgal",),), ".3f")),
                     cell("{}", Num(data, (p + ("chi2_per_datum",),), ".3f")),
                     cell("{}", Num(data, (p + ("lam",),), ".3g")),
                     cell("{} to {}", Num(data, (p + ("density_min",),), ".0f"), Num(data, (p + ("density_max",),),
                                                                                     ".0f")),
                     cell("{}", Num(data, (p + ("seconds",),), ".2f"))])
    return [Table(name, "Hartoušov profile: density-contrast sections fitted to chi²/N = 1",
                  ["inversion", "noise σ (mGal)", "chi²/N", "λ", "density (kg/m³)", "seconds"], rows, name,
                  "python benchmarks/gravity_hartousov.py", data.get("environment"))]


@renders("impedance")
def _impedance(data, name):
    env = data.get("environment")
    cols = [("rel_error_impedance", ".2f", 100), ("psnr_impedance", ".1f", 1), ("seconds", ".1f", 1)]
    whole = results_rows(data, cols)
    right = results_rows(data, [("rel_error_impedance", ".2f", 100), ("error_fraction", ".3f", 1),
                                ("psnr_impedance", ".1f", 1), ("seconds", ".2f", 1), ("training_seconds", ".0f", 1)],
                         key="right_half")
    command = "python benchmarks/impedance.py"
    return [
        Table("whole", "Post-stack impedance on Marmousi: the whole section", ["method", "rel. error of Z (%)",
                                                                             "PSNR of Z (dB)", "seconds"],
              whole, name, command, env),
        Table("right_half", "Trace-wise networks trained on the left half, scored on the right half",
              ["method", "rel. error of Z (%)", "error / start", "PSNR of Z (dB)", "seconds", "training (s)"],
              right, name, command, env),
    ]


@renders("fwi_marmousi", "fwi_marmousi_lbfgs")
def _marmousi(data, name):
    env = dict(data.get("environment") or {})
    if data.get("device"):
        env["device"] = data["device"]
    commands = {
        "fwi_marmousi": "python benchmarks/fwi_marmousi.py",
        "fwi_marmousi_lbfgs": "python benchmarks/fwi_marmousi.py --from-run runs/marmousi-lbfgs --name "
                              "fwi_marmousi_lbfgs",
    }
    summary = [[label(name.replace("fwi_marmousi", "Marmousi").replace("_", " ")),
                cell("{}", Num(data, (("model_error_initial",),), ".3f")),
                cell("{}", Num(data, (("model_error_final",),), ".3f")),
                cell("{} %", Num(data, (("model_error_final",), ("model_error_initial",)), ".0f", 100, "ratio")),
                cell("{}", Num(data, (("history", "iterations"),), ".0f")),
                cell("{} s", Num(data, (("seconds_total",),), ".0f"))]]
    tables = [Table("summary", "Relative model error of the Marmousi inversion", ["run", "start", "end", "end / start",
                                                                                 "iterations", "time"],
                    summary, name, commands[name], env)]
    bands = data["history"].get("bands") or []
    if bands and isinstance(bands[0], dict):
        rows = []
        ends = _band_ends(data)
        for i, band in enumerate(bands):
            p = ("history", "bands", i)
            title = "full" if band.get("f_cut") is None else f"{band['f_cut']:g} Hz"
            rows.append([label(title), cell("{}", Num(data, (p + ("iterations",),), ".0f")),
                         cell("{}", Num(data, (("history", "model_error", ends[i]),), ".3f")),
                         cell("{} → {}", Num(data, (p + ("misfit_start",),), ".3f"),
                              Num(data, (p + ("misfit_end",),), ".3f")),
                         cell("{}", Num(data, (p + ("seconds",),), ".0f"))])
        tables.append(Table("bands", "Per frequency band", ["band", "iterations", "model error at its end",
                                                            "misfit start → end", "seconds"],
                            rows, name, commands[name], env))
    return tables


def _band_ends(data) -> list[int]:
    """Index of the last iteration of each band in the per-iteration history."""
    ends, total = [], 0
    for band in data["history"]["bands"]:
        total += band["iterations"]
        ends.append(total - 1)
    return ends


_FWI_LABELS = {
    "start": "family mean depth profile (FWI's start)", "fwi": "FWI, smoothed multiscale updates",
    "inversionnet": "InversionNet", "cwgan": "cWGAN-GP, mean of the draws",
    "hybrid": "hybrid: FWI from InversionNet's prediction",
}


@renders("fwi_vs_nn", "fwi_vs_nn_cwgan_crps", "fwi_baseline")
def _fwi_vs_nn(data, name):
    labels = dict(_FWI_LABELS)
    if name == "fwi_vs_nn_cwgan_crps":
        labels["cwgan"] = "cWGAN-GP fine-tuned with the CRPS term, mean of the draws"
    rows = results_rows(data, [("mae", ".4f", 1), ("rmse", ".4f", 1), ("ssim", ".4f", 1),
                               ("seconds_per_model", ".3g", 1)], key="summary", labels=labels)
    parts = ",".join(data["config"]["parts"])
    command = f"python benchmarks/fwi_vs_nn.py --parts {parts} --out {data['config']['out']}"
    note = ""
    if "cwgan_coverage_90" in data.get("checks", {}):
        note = (f"Pixelwise 90 % intervals of the draws cover "
                f"{Num(data, (('checks', 'cwgan_coverage_90'),), '.1f', 100)} % of the true velocities.")
    return [Table(name, "fwi-flat: 70 x 70 models, errors on velocities scaled to [-1, 1]",
                  ["method", "MAE", "RMSE", "SSIM", "s / model"], rows, name, command, data.get("environment"), note)]


@renders("joint_optimization")
def _joint(data, name):
    rows = []
    for setting in data["results"]:
        p = ("results", setting, "shares")
        rows.append([label(setting),
                     cell("{} %", Num(data, (p + ("train", "network < l-bfgs"),), ".0f", 100)),
                     cell("{} %", Num(data, (p + ("test", "network < l-bfgs"),), ".0f", 100)),
                     cell("{} %", Num(data, (p + ("test", "network + l-bfgs < l-bfgs"),), ".0f", 100)),
                     cell("{} %", Num(data, (p + ("test", "l-bfgs, random restarts < l-bfgs"),), ".0f", 100))])
    columns = ["setting", "network < L-BFGS, train", "held-out", "network + L-BFGS < L-BFGS, held-out",
               "L-BFGS from random starts < L-BFGS, held-out"]
    return [Table(name, "Share of instances where a method ends strictly below per-instance L-BFGS", columns, rows,
                  name, "python benchmarks/joint_optimization.py", data.get("environment"))]


@renders("source_estimation")
def _source(data, name):
    rows = results_rows(data, [("median_location_error_m", ".1f", 1), ("mean_mass_error", ".1f", 100),
                               ("coverage", ".1f", 100), ("median_interval_width_m", ".1f", 1),
                               ("seconds_per_release", ".2g", 1)])
    columns = ["method", "median localisation error (m)", "mean mass error (%)", "90 % interval coverage (%)",
               "median 90 % width (m)", "s / release"]
    return [Table(name, "Pollutant source: 100 held-out releases", columns, rows, name,
                  "python benchmarks/source_estimation.py", data.get("environment"))]


@renders("inverse_design")
def _design(data, name):
    rows = results_rows(data, [("within_5pct", ".0f", 100), ("median_error", ".2f", 100),
                               ("seconds_per_design", ".4f", 1), ("diversity", ".3f", 1)])
    rows.append([label("(random designs within 5 % of each other)"), label(""), label(""), label(""),
                 cell("{}", Num(data, (("reference_diversity",),), ".3f"))])
    columns = ["method", "within 5 % (%)", "median error (%)", "s / design", "diversity (pixels differing)"]
    return [Table(name, "Materials inverse design: 100 held-out targets", columns, rows, name,
                  "python benchmarks/inverse_design.py", data.get("environment"))]


@renders("uq_ct")
def _uq(data, name):
    rows = []
    for method in data["results"]:
        p = ("results", method)
        rows.append([label(method), cell("{}", Num(data, (p + ("psnr_of_mean",),), ".2f")),
                     cell("{} %", Num(data, (p + ("raw", "coverage_90"),), ".1f", 100)),
                     cell("{}", Num(data, (p + ("raw", "width_90"),), ".4f")),
                     cell("{}", Num(data, (p + ("scale",),), ".2f")),
                     cell("{} %", Num(data, (p + ("calibrated", "coverage_90"),), ".1f", 100)),
                     cell("{}", Num(data, (p + ("calibrated", "width_90"),), ".4f")),
                     cell("{}", Num(data, (p + ("raw", "standardised_error_std"),), ".2f")),
                     cell("{}", Num(data, (p + ("seconds_per_sample",),), ".3f"))])
    columns = ["method", "PSNR of mean", "90 % coverage, raw", "width, raw", "scale", "90 % coverage, calibrated",
               "width, calibrated", "std of standardised error", "s / image"]
    return [Table(name, "Uncertainty on ct-parallel 128², 100 held-out phantoms", columns, rows, name,
                  "python benchmarks/uq_ct.py", data.get("environment"))]


@renders("stability_ct")
def _stability(data, name):
    r = data["results"]
    rows = []
    for method in r["sweep"]:
        row = [label(method)]
        row += [cell("{}", Num(data, (("results", "sweep", method, i),), ".2f")) for i in range(len(r["levels"]))]
        row += [cell("{} dB", Num(data, (("results", "worst_case", method, str(e), "drop"),), ".2f"))
                for e in r["eps"]]
        row.append(cell("{}", Num(data, (("results", "lipschitz", method),), ".3g")))
        rows.append(row)
    columns = ["method", *[f"PSNR, noise {lv}" for lv in r["levels"]], *[f"worst-case drop, eps {e}" for e in r["eps"]],
               "local Lipschitz"]
    return [Table(name, "Stability on ct-parallel 128², 30 views", columns, rows, name,
                  "python benchmarks/stability.py", data.get("environment"))]


@renders("pnp_deblur", "pnp_ct")
def _pnp(data, name):
    rows = results_rows(data, [("psnr", ".2f", 1), ("ssim", ".3f", 1), ("seconds_per_image", ".3f", 1)])
    part = data["config"]["part"]
    return [Table(name, f"Plug-and-play ADMM ({part}), {data['config']['n']} held-out images",
                  ["method", "PSNR (dB)", "SSIM", "s / image"], rows, name,
                  f"python benchmarks/pnp.py --part {part} --denoiser RUN", data.get("environment"))]


@renders("real_data_centre")
def _real_data_centre(data, name):
    rows = []
    for i, r in enumerate(data["scans"]):
        p = ("scans", i)
        rows.append([label(f"{r['scan']} ({r['method']})"),
                     cell("{}", Num(data, (p + ("shift",),), "+.2f")),
                     cell("{}", Num(data, (p + ("estimate",),), "+.2f")),
                     cell("{}", Num(data, (p + ("seconds",),), ".2f")),
                     cell("{}", Num(data, (p + ("psnr_detector_middle",),), ".2f")),
                     cell("{}", Num(data, (p + ("psnr_estimated_centre",),), ".2f")),
                     cell("{}", Num(data, (p + ("psnr_stripes_removed",),), ".2f")),
                     cell("{}", Num(data, (p + ("ring_energy",),), ".3g", 1e4)),
                     cell("{}", Num(data, (p + ("ring_energy_stripes_removed",),), ".3g", 1e4)),
                     cell("{}", Num(data, (p + ("ring_energy_without_miscalibration",),), ".3g", 1e4))])
    columns = ["scan", "axis offset", "estimate", "seconds", "PSNR, detector middle (dB)", "PSNR, estimated axis",
               "PSNR, stripes removed", "ring energy (1e-4)", "ring energy, stripes removed",
               "ring energy, no bad elements"]
    return [Table(name, "Centre of rotation and stripe removal on simulated parallel-beam scans", columns, rows, name,
                  "python benchmarks/real_data.py centre", data.get("environment"))]


@renders("generative_prior")
def _generative(data, name):
    cols = [("psnr", ".2f", 1), ("ssim", ".3f", 1), ("seconds_per_image", ".3f", 1)]
    headers = ["method", "PSNR (dB)", "SSIM", f"s / image ({data['config']['device']})"]
    if any("seconds_per_image_cpu" in v for v in data["results"].values()):
        cols.append(("seconds_per_image_cpu", ".3g", 1))
        headers.append("s / image (CPU)")
    rows = results_rows(data, cols)
    rows.append([label("the generator's best fit to the truths (its representation limit)"),
                 cell("{}", Num(data, (("representation", "psnr"),), ".2f")), *[label("")] * (len(cols) - 1)])
    command = f"python benchmarks/generative_prior.py --run RUN --device {data['config']['device']} --name {name}"
    return [Table(name, "Compressed sensing at 10 % measurements, 64² phantoms", headers, rows, name, command,
                  data.get("environment"))]


@renders("distillation")
def _distillation(data, name):
    rows = results_rows(data, [("psnr", ".2f", 1), ("gain_kept", ".1f", 100), ("parameters", ",.0f", 1),
                               ("seconds_per_image", ".4f", 1), ("speed_up", ".2f", 1)])
    columns = ["network", "PSNR (dB)", "share of the teacher's gain over FBP (%)", "parameters", "s / image",
               "x faster than the teacher"]
    return [Table(name, "Distilled students of the CT U-Net, 100 held-out phantoms", columns, rows, name,
                  "python benchmarks/distillation.py --students RUN ...", data.get("environment"))]


@renders("pod_vs_full")
def _pod(data, name):
    rows = results_rows(data, [("mean_mae", ".4f", 1), ("mean_rmse", ".4f", 1), ("mean_ssim", ".4f", 1),
                               ("parameters", ",.0f", 1), ("seconds_per_model", ".4f", 1),
                               ("training_minutes", ".0f", 1)])
    columns = ["model", "MAE", "RMSE", "SSIM", "parameters", "s / model", "training (min)"]
    return [Table(name, "Reduced (POD) model against the full InversionNet, 100 held-out fwi-flat models", columns,
                  rows, name, "python benchmarks/pod_vs_full.py --inversionnet RUN --data TRAIN.h5",
                  data.get("environment"))]


@renders("learned_scale")
def _learned_scale(data, name):
    rows = []
    for i, row in enumerate(data["rows"]):
        tv_time = ("rows", i, "methods", "tv", "timing", "per_item")
        for method in row["methods"]:
            p = ("rows", i, "methods", method)
            t = p + ("timing",)
            shown = f"TV (λ {row['tv']['lam']:.4g}, {row['tv']['iters']} iterations" + (
                ", truncated)" if row["tv"]["truncated"] else ")") if method == "tv" else method
            rows.append([cell("{}² / {}", Num(data, (("rows", i, "size"),), ".0f"),
                              Num(data, (("rows", i, "views"),), ".0f")), label(shown),
                         cell("{}", Num(data, (p + ("psnr",),), ".2f")), cell("{}", Num(data, (p + ("ssim",),), ".3f")),
                         cell("{} [{}–{}]", Num(data, (t + ("per_item",),), ".3g"),
                              Num(data, (t + ("minimum",),), ".3g", 1 / row["batch_size"]),
                              Num(data, (t + ("maximum",),), ".3g", 1 / row["batch_size"])),
                         cell("{}", Num(data, (tv_time, t + ("per_item",)), ".0f", op="ratio")),
                         cell("{}", Num(data, (t + ("batch_size",),), ".0f"))])
    columns = ["size / views", "method", "PSNR (dB)", "SSIM", "s / image [min–max]", "× faster than TV", "batch"]
    return [Table(name, "A U-Net trained on crops, applied to full-size CT, against TV", columns, rows, name,
                  "python benchmarks/learned_at_scale.py", data.get("environment"))]


@renders("demo_busy")
def _demo_busy(data, name):
    rows = []
    for i, run in enumerate(data["runs"]):
        for method in run["per_image_seconds"]:
            rows.append([cell("{}", Num(data, (("runs", i, "busy_processes"),), ".0f")), label(method),
                         cell("{}", Num(data, (("runs", i, "psnr", method),), ".2f")),
                         cell("{}", Num(data, (("runs", i, "per_image_seconds", method),), ".4f")),
                         cell("{}", Num(data, (("runs", i, "speedup_over_tv", method),), ".1f")),
                         cell("{}", Num(data, (("runs", i, "wall_seconds"),), ".0f"))])
    columns = ["busy processes", "method", "PSNR (dB)", "s / image", "× faster than TV", "demo wall time (s)"]
    return [Table(name, "The demo on an idle machine and beside processes that keep cores busy", columns, rows, name,
                  "python benchmarks/demo_busy.py --busy 1", data.get("environment"))]


@renders("learned_scale_seconds")
def _learned_scale_seconds(data, name):
    series = data["series"]
    sizes = sorted({int(n) for points in series.values() for n in points})
    rows = []
    for method, points in series.items():
        rows.append([label(method)] + [cell("{}", Num(data, (("series", method, str(n), "seconds_per_image"),), ".3g"))
                                       if str(n) in points else label("–") for n in sizes])
    columns = ["method"] + [f"{n}² / {data['views'][str(n)]} views" for n in sizes]
    return [Table(name, "Seconds per image at batch size 1, median of repeats", columns, rows, name,
                  "python benchmarks/learned_at_scale.py figure", data.get("environment"))]


def generic(data, name) -> list[Table]:
    """Fallback for a results file without a renderer: its top-level numbers."""
    rows = []
    for key, value in data.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            rows.append([label(key), cell("{}", Num(data, ((key,),), ".4g"))])
    return [Table(name, name, ["value", "number"], rows, name, f"see benchmarks/ for {name}", data.get("environment"))]


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def tables(name: str, data: dict | None = None) -> list[Table]:
    """Every table of one results file (``name`` without ``.json``)."""
    data = load(name) if data is None else data
    return RENDERERS.get(name, generic)(data, name)


def inline(text: str) -> Num:
    """The number of a ``:bench:`` role: ``FILE:EXPR:SPEC`` with ``EXPR`` a slash-separated
    path, ``PATH - PATH`` or ``PATH over PATH``, and ``SPEC`` a format (``%.1f``: as a
    percentage)."""
    name, expr, spec = text.rsplit(":", 2)
    scale = 100.0 if spec.startswith("%") else 1.0
    spec = spec.lstrip("%")

    def path(p: str) -> tuple:
        return tuple(int(k) if k.isdigit() else k for k in p.strip().split("/"))

    for word, op in ((" over ", "ratio"), (" - ", "diff")):
        if word in expr:
            a, b = expr.split(word)
            return Num(load(name), (path(a), path(b)), spec, scale, op)
    return Num(load(name), (path(expr),), spec, scale)


# -- the directive -----------------------------------------------------------------------------
def setup(app):
    from docutils.parsers.rst import directives
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class Benchmark(SphinxDirective):
        required_arguments = 1
        option_spec = {"table": directives.unchanged, "figure": directives.unchanged,  # noqa: RUF012 (Sphinx API)
                       "optional": directives.flag}

        def run(self):
            name = self.arguments[0]
            path = RESULTS / f"{name}.json"
            lines: list[str] = []
            if not path.exists():
                if "optional" not in self.options:
                    raise self.error(f"benchmarks/results/{name}.json not found")
                note = (f"*No results yet:* ``benchmarks/results/{name}.json`` is written by the benchmark "
                        "named above; this section fills in when the site is next built.")
                lines = [note, ""]
            else:
                self.env.note_dependency(str(path))
                chosen = self.options.get("table")
                for table in tables(name):
                    if chosen is None or table.key == chosen:
                        lines += to_rst(table)
                figure = self.options.get("figure")
                if figure and (RESULTS / figure).exists():
                    self.env.note_dependency(str(RESULTS / figure))
                    up = Path(*[".."] * (len(Path(self.env.docname).parent.parts) + 1))
                    lines += [f".. image:: {(up / 'benchmarks' / 'results' / figure).as_posix()}",
                              f"   :alt: {name}", ""]
                elif figure and "optional" not in self.options:
                    raise self.error(f"benchmarks/results/{figure} not found")
            node_lines = StringList(lines, source=f"benchmarks/results/{name}.json")
            from docutils import nodes

            container = nodes.container()
            self.state.nested_parse(node_lines, self.content_offset, container)
            return container.children

    def bench_role(name, rawtext, text, lineno, inliner, options=None, content=None):
        from docutils import nodes

        try:
            number = inline(text)
            value = str(number)
        except (KeyError, IndexError, ValueError, FileNotFoundError) as exc:
            msg = inliner.reporter.error(f"benchmark value {text!r}: {type(exc).__name__}: {exc}", line=lineno)
            return [inliner.problematic(rawtext, rawtext, msg)], [msg]
        inliner.document.settings.env.note_dependency(str(RESULTS / f"{text.rsplit(':', 2)[0]}.json"))
        return [nodes.inline(rawtext, value, classes=["benchmark-value"])], []

    app.add_directive("benchmark", Benchmark)
    app.add_role("bench", bench_role)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
