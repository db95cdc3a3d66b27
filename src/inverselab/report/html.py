"""A self-contained HTML report comparing runs: metrics table, reconstructions with error maps,
training curves, and quality against reconstruction time (the learned-vs-classical claim).

Images are embedded as base64 PNG, so the single file can be mailed or opened anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..records import METRICS, RERUN, STABILITY, TRAINING_HISTORY, UQ, read_bytes, read_json
from ..runs import write_atomic

__all__ = ["RunSummary", "read_run", "build_report"]


@dataclass
class RunSummary:
    """What a report needs from one run directory."""

    path: Path
    label: str
    metrics: dict
    training: dict | None = None
    samples: dict[str, np.ndarray] = field(default_factory=dict)


def read_run(path: str | Path) -> RunSummary:
    """Read ``metrics.json`` (required), ``training.json`` and ``samples.safetensors`` of a run."""
    path = Path(path)
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a run folder"
        raise InputError(f"run {path} {what}: give folders written by 'inverselab solve', 'train' or 'evaluate'")
    metrics_path = path / "metrics.json"
    if not metrics_path.exists():
        raise InputError(f"{path} has no metrics.json (not complete: stopped before the end, or never scored); run "
                         "'inverselab solve' or 'inverselab evaluate' on it first")
    metrics = read_json(metrics_path, METRICS)
    if "scores" in metrics and not all(k in metrics for k in metrics["scores"]):
        raise InputError(f"{metrics_path}: field 'scores' names scores the file lacks: {RERUN}")
    training = read_json(path / "training.json", TRAINING_HISTORY) if (path / "training.json").exists() else None
    samples = {}
    if (path / "samples.safetensors").exists():
        from safetensors import SafetensorError
        from safetensors.numpy import load

        data = read_bytes(path / "samples.safetensors", fix=RERUN)
        try:
            samples = load(data)
        except (SafetensorError, ValueError) as exc:
            raise InputError(f"{path / 'samples.safetensors'} is not a valid safetensors file ({exc}): {RERUN}") from None
    return RunSummary(path, str(metrics.get("method", path.name)), metrics, training, samples)


def _png(fig) -> str:
    from .figures import pyplot

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _same_images(runs: list[RunSummary]) -> list[list[RunSummary]]:
    """Runs grouped by problem and image shape (one grid each: their truths are comparable)."""
    groups: dict[tuple, list[RunSummary]] = {}
    for r in runs:
        shape = tuple(r.samples["truth"].shape[1:]) if "truth" in r.samples else ()
        groups.setdefault((r.metrics.get("problem"), shape), []).append(r)
    return list(groups.values())


def _grid(runs: list[RunSummary], columns: int = 3) -> str | None:
    """Rows: truth, then per run its estimates and error maps on the first samples."""
    from .figures import pyplot

    with_samples = [r for r in runs if "estimate" in r.samples and r.samples["estimate"].ndim in (3, 4)]
    if not with_samples:  # none, or unknowns that are not images
        return None

    def planes(a: np.ndarray) -> np.ndarray:  # (B, C, H, W) or (B, H, W) -> (B, H, W), first channel
        return a[:, 0] if a.ndim == 4 else a

    truth = planes(with_samples[0].samples["truth"])
    k = min(columns, truth.shape[0])
    plt = pyplot()
    rows = 1 + len(with_samples)
    fig, axes = plt.subplots(rows, 2 * k, figsize=(2.2 * 2 * k, 2.3 * rows), squeeze=False)
    lo, hi = float(truth[:k].min()), float(truth[:k].max())
    err_max = max(float(np.abs(planes(r.samples["estimate"])[:k] - truth[:k]).max()) for r in with_samples) or 1.0
    for j in range(k):
        axes[0, 2 * j].imshow(truth[j], cmap="gray", vmin=lo, vmax=hi)
        axes[0, 2 * j].set_title(f"truth {j}", fontsize=8)
    for i, r in enumerate(with_samples, start=1):
        est = planes(r.samples["estimate"])
        for j in range(k):
            axes[i, 2 * j].imshow(est[j], cmap="gray", vmin=lo, vmax=hi)
            axes[i, 2 * j].set_title(f"{r.label}", fontsize=8)
            axes[i, 2 * j + 1].imshow(np.abs(est[j] - truth[j]), cmap="magma", vmin=0, vmax=err_max)
            axes[i, 2 * j + 1].set_title(f"|error| (max {err_max:.2f})", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    return _png(fig)


def _curves(runs: list[RunSummary]) -> str | None:
    from .figures import pyplot

    trained = [r for r in runs if r.training and r.training.get("history")]
    if not trained:
        return None
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    metric = "val_psnr" if all("val_psnr" in r.training["history"][0] for r in trained) else "val_misfit"
    for r in trained:
        h = r.training["history"]
        a.plot([e["seconds"] / 60 for e in h], [e.get(metric, float("nan")) for e in h], marker=".", label=r.label)
        b.semilogy([e["step"] for e in h], [e["loss"] for e in h], marker=".", label=r.label)
    a.set(xlabel="training time (min)", title="validation",
          ylabel="validation PSNR (dB)" if metric == "val_psnr" else "held-out data misfit ||F(x) - y|| / ||y||")
    b.set(xlabel="step", ylabel="training loss (epoch mean)", title="loss")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


def _claim(runs: list[RunSummary]) -> str:
    from .figures import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        t, q = r.metrics["seconds_per_sample"], r.metrics["psnr"]
        ax.scatter([t], [q], s=40, marker="o" if r.training else "s")
        ax.annotate(r.label, (t, q), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xscale("log")
    ax.set(xlabel="seconds per image (log scale)", ylabel="PSNR (dB)",
           title="quality against reconstruction time\n(circles: trained networks, squares: classical)")
    ax.grid(alpha=0.3, which="both")
    return _png(fig)


def _table(runs: list[RunSummary]) -> str:
    head = ["run", "problem", "method", "n", "PSNR (dB)", "SSIM", "rel. error", "s / image", "training"]
    rows = []
    for r in runs:
        m = r.metrics
        train = f"{m['training_seconds'] / 60:.1f} min, {m.get('training_steps', '?')} steps" if "training_seconds" in m else "-"
        cells = [r.path.name, m["problem"], m["method"], m["n"], f"{m['psnr']:.2f}", f"{m['ssim']:.3f}",
                 f"{m['rel_error']:.3f}", f"{m['seconds_per_sample']:.4g}", train]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return ("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _estimation_table(runs: list[RunSummary]) -> str:
    head = ["run", "problem", "method", "estimates and errors", "max rel. error", "seconds"]
    rows = []
    for r in runs:
        m = r.metrics
        found = [f"{k} = {v['estimate']:.5g} ({v['rel_error']:.2%})" for k, v in m.get("parameters", {}).items()]
        found += [f"{k}: rel. L2 {v:.2%}" for k, v in m.get("fields", {}).items()]
        cells = [r.path.name, m["problem"], m["method"], "; ".join(found), f"{m['rel_error']:.2%}", f"{m['seconds']:.3g}"]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return ("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _scores_table(runs: list[RunSummary]) -> str:
    """Mean scores of runs on problems whose unknowns are not images (``metrics["scores"]``)."""
    names = list(dict.fromkeys(name for r in runs for name in r.metrics.get("scores", [])))
    head = ["run", "problem", "method", "n", *[n.replace("_", " ") for n in names], "s / sample"]
    rows = []
    for r in runs:
        m = r.metrics
        cells = [r.path.name, m["problem"], m["method"], m["n"], *[f"{m[n]:.4g}" if n in m else "-" for n in names],
                 f"{m['seconds_per_sample']:.4g}"]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return ("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _uq_section(runs: list[RunSummary]) -> list[str]:
    """Tables and figures of ``inverselab evaluate RUN --uq KIND`` (``uq-*.json``), if any."""
    rows, images = [], []
    for r in runs:
        for path in sorted(r.path.glob("uq-*.json")):
            m = read_json(path, UQ)
            raw, cal = m["raw"], m["calibrated"]
            cells = [r.path.name, m["model"], m["n"], f"{raw['coverage_90']:.1%}", f"{raw['width_90']:.4g}",
                     f"{m['scale']:.3g}", f"{cal['coverage_90']:.1%}", f"{cal['width_90']:.4g}", f"{m['psnr_of_mean']:.2f}"]
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
            for png in sorted((r.path / "figures").glob(f"uq-{m['uq']}-*.png")):
                data = base64.b64encode(png.read_bytes()).decode()
                images.append(f"<img alt='{html.escape(png.stem)}' src='data:image/png;base64,{data}'>")
    for r in runs:  # 'inverselab stability RUN'
        path = r.path / "stability.json"
        if path.exists():
            table = read_json(path, STABILITY)["table"]
            images.append(f"<h3>Stability: {html.escape(r.label)}</h3><pre>{html.escape(table)}</pre>")
            png = r.path / "figures" / "stability.png"
            if png.is_file():
                images.append(f"<img alt='stability' src='data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}'>")
    if not rows and not images:
        return []
    if not rows:
        return ["<h2>Stability</h2>", *images]
    head = ["run", "model", "n", "90% coverage", "width", "scale", "calibrated coverage", "calibrated width", "PSNR of mean"]
    table = ("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>" + "".join(rows)
             + "</tbody></table>")
    return ["<h2>Uncertainty</h2>", table, *images]


# figures of reconstruction runs that the report shows in its own tables and grids
_SHOWN_ELSEWHERE = {"truth", "measurement", "estimate", "error", "convergence", "stability"}


def _run_figures(run: RunSummary, extra_only: bool = False) -> str:
    """The run's own figures (fields, loss terms, unknowns over time), embedded; with
    ``extra_only`` only those the report does not already show (e.g. FWI's model error per
    iteration), and "" when there are none."""
    images = []
    for png in sorted((run.path / "figures").glob("*.png")):
        if extra_only and (png.stem in _SHOWN_ELSEWHERE or png.stem.startswith("uq-")):
            continue
        data = base64.b64encode(png.read_bytes()).decode()
        images.append(f"<img alt='{html.escape(png.stem)}' src='data:image/png;base64,{data}'>")
    if extra_only and not images:
        return ""
    return f"<h3>{html.escape(run.label)}</h3>" + "".join(images)


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2),td:nth-child(3){text-align:left}img{max-width:100%}
.note{color:#555;font-size:0.9em}"""


def build_report(runs: list[str | Path], out: str | Path, title: str = "inverselab report", note: str = "") -> Path:
    """Write one self-contained HTML file comparing ``runs``; returns its path."""
    if not runs:
        raise InputError("report needs at least one run directory")
    summaries = [read_run(r) for r in runs]
    labels = [s.label for s in summaries]
    for s in summaries:
        if labels.count(s.label) > 1:
            s.label = f"{s.label} ({s.path.name})"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if note:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    estimation = [s for s in summaries if s.metrics.get("kind") == "estimation"]
    unknowns = [s for s in summaries if s not in estimation and "psnr" not in s.metrics]
    reconstruction = [s for s in summaries if s not in estimation and s not in unknowns]
    if reconstruction:
        parts += ["<h2>Metrics</h2>", _table(reconstruction), "<h2>Quality against time</h2>",
                  f"<img alt='PSNR against seconds per image' src='{_claim(reconstruction)}'>"]
        grids = [g for g in (_grid(group) for group in _same_images(reconstruction)) if g]
        if grids:
            parts += ["<h2>Reconstructions and error maps</h2>",
                      *[f"<img alt='reconstructions' src='{grid}'>" for grid in grids]]
        curves = _curves(reconstruction)
        if curves:
            parts += ["<h2>Training</h2>", f"<img alt='training curves' src='{curves}'>"]
        extra = [f for f in (_run_figures(s, extra_only=True) for s in reconstruction) if f]
        if extra:
            parts += ["<h2>Solver diagnostics</h2>", *extra]
    if estimation:
        parts += ["<h2>Parameter and field estimation</h2>", _estimation_table(estimation),
                  *[_run_figures(s) for s in estimation]]
    if unknowns:
        parts += ["<h2>Estimated unknowns</h2>", _scores_table(unknowns)]
        curves = _curves(unknowns)
        if curves:
            parts += ["<h2>Training</h2>", f"<img alt='training curves' src='{curves}'>"]
        parts += [_run_figures(s) for s in unknowns]
    parts += _uq_section(summaries)
    configs = "".join(f"<h3>{html.escape(s.label)}</h3><pre>{html.escape(json.dumps(s.metrics.get('config', {}), indent=1))}</pre>"
                      for s in summaries)
    parts += ["<h2>Configurations</h2>", configs, "</body></html>"]
    return write_atomic(out, "\n".join(parts).encode())
