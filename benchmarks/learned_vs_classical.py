"""Learned against classical reconstruction: quality and seconds per image, same data.

Parts (each writes benchmarks/results/learned_<part>.json and prints a markdown table):

* ``ct``: ct-parallel 128x128, 30 views, 5% noise, random ellipses (the Adler-Öktem
  setting). FBP; TV with lambda tuned on a validation set; U-Net after FBP and learned
  primal-dual, each trained for a fixed time budget on this machine; 100 held-out phantoms.
* ``consistency``: LPD trained with the measurement-consistency + TV loss (no ground truth).
* ``schedules``: plain, curriculum (noise) and multi-task (views 30/60/90) training of LPD at
  equal compute, scored on the target problem.
* ``mri``: 4x multi-coil MRI: zero-filled, L1-wavelet CS, U-Net and the unrolled network.
* ``deblur``: TV against U-Net on natural images.
* ``radio``: snapshot radio interferometry, skies of sources and Hubble deep-field crops:
  dirty image, Högbom CLEAN, L1 and TV (lambda tuned on validation skies) and a U-Net (width
  16, depth 3) on the dirty image, alone and averaged over the sky's half turn (an exact
  symmetry; one more network pass). The README's source-sky U-Net trained for 6.3 minutes on
  one H200 GPU (``inverselab train radio --set sky=sources --model unet --option width=16
  depth=3 --minutes 6.3 --batch-size 32 --steps-per-epoch 200``); the Hubble U-Net, on turned
  and flipped training crops, on the CPU (2 threads) for 95 minutes (``--set sky=hubble
  --model unet --option width=16 depth=3 --minutes 95 --batch-size 32 --lr 1e-3 --n 100``),
  then 15 more (``--init`` that run, ``--loss-option weighting=psnr --lr 2e-4 --seed 1
  --minutes 15``). The runs were copied to
  benchmarks/runs/radio_<sky>_unet and this script timed them on the CPU.
* ``htc``: a U-Net trained on simulated discs with holes in the HTC2022 fan-beam geometry,
  applied to the real ta/tb sinograms; MCC of the Otsu segmentation against TV.

    python benchmarks/learned_vs_classical.py ct [--minutes-lpd 25 --minutes-unet 15]
    python benchmarks/learned_vs_classical.py deblur --quick   # quick block: U-Net width 16, 600 steps, 8 images

Seconds per image are measured at batch size 1, one image after another, after a warm-up.
Training runs land in benchmarks/runs/<part>_<model>/ (git-ignored); they resume with
``inverselab train ... --resume``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch

from _common import BenchmarkParser, save
from inverselab.jobs import train_job
from inverselab.methods import make_method
from inverselab.models import Symmetrized, load_run
from inverselab.problems import make_problem
from inverselab.problems.base import Problem
from inverselab.training import generate_hdf5
from inverselab.training.data import VALIDATION_SEED, OnTheFly

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs"
CACHE = HERE / "data"
N_TEST = 100
#: ``--quick`` (deblur): training epochs of 50 steps (a fixed step count, so reruns agree), test images.
QUICK_EPOCHS, QUICK_TEST = 12, 8
#: What ``reproduce.py`` checks: every method's PSNR and SSIM, and each one's speed over the baseline.
REPRODUCE = {"quality": {"results.*.psnr": 0.3, "results.*.ssim": 0.01}, "ratios": ["results.*.x_faster_than_baseline"]}


def per_image(problem: Problem, reconstruct: Callable, y: torch.Tensor, x: torch.Tensor) -> dict:
    """Reconstruct one image at a time; mean metrics and seconds per image."""
    reconstruct(y[:1])
    estimates, start = [], time.perf_counter()
    for i in range(y.shape[0]):
        estimates.append(reconstruct(y[i : i + 1]))
    seconds = (time.perf_counter() - start) / y.shape[0]
    scores = problem.evaluate(torch.cat(estimates), x)
    return {k: sum(v) / len(v) for k, v in scores.items()} | {"seconds_per_image": seconds}


def classical(problem: Problem, name: str, **params) -> Callable:
    method = make_method(name, problem, **params)
    return lambda y: method.reconstruct(y)[0]


def training_info(run: Path) -> dict:
    """Training time, steps and validation curve of a run."""
    history = json.loads((run / "training.json").read_text())["history"]
    return {"training_minutes": history[-1]["seconds"] / 60, "training_steps": history[-1]["step"],
            "val_psnr_curve": [(h["seconds"], h["val_psnr"]) for h in history]}


def learned(run: Path, symmetrize: bool = False) -> tuple[Callable, dict]:
    """The run's network (averaged over the problem's exact symmetries with ``symmetrize``)."""
    trained = load_run(run)
    if symmetrize:
        trained.network = Symmetrized(trained.network, trained.problem.symmetries)
    return (lambda y: trained.reconstruct(y)[0]), training_info(run)


def tune(problem: Problem, name: str, param: str, values: list[float], n: int = 16, **fixed) -> tuple[float, dict]:
    """Pick ``param`` by mean PSNR on validation pairs (training stream, disjoint from tests)."""
    val = OnTheFly(problem, n, offset=VALIDATION_SEED).get(list(range(n)))
    scores = {}
    for v in values:
        est, _ = make_method(name, problem, **{param: v, **fixed}).reconstruct(val.y)
        scores[v] = sum(problem.evaluate(est, val.truth)["psnr"]) / n
    return max(scores, key=scores.get), scores


def test_set(problem: Problem, n: int = N_TEST) -> tuple[torch.Tensor, torch.Tensor]:
    x = problem.sample_truth(n, seed=0)
    return x, problem.simulate(x, seed=1)


def train(problem: Problem, part: str, model: str, minutes: float | None, cache: Path | None = None, **kw) -> Path:
    out = RUNS / f"{part}_{model}{kw.pop('suffix', '')}"
    if kw.pop("retrain", False):
        shutil.rmtree(out, ignore_errors=True)
    if (out / "model.safetensors").exists():
        print(f"reusing {out}")
        return out
    training = {"batch_size": 4, "steps_per_epoch": 50, "seed": 0, **kw.pop("training", {})}
    train_job(problem, model, out, minutes=minutes, data=cache, training=training, **kw)
    return out


def table(rows: dict[str, dict], baseline: str) -> str:
    lines = ["| method | PSNR (dB) | SSIM | s / image | x faster than " + baseline + " | training |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        t = f"{r['training_minutes']:.0f} min, {r['training_steps']} steps" if "training_minutes" in r else "-"
        lines.append(f"| {name} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['seconds_per_image']:.4f} | "
                     f"{rows[baseline]['seconds_per_image'] / r['seconds_per_image']:.3g} | {t} |")
    return "\n".join(lines)


def report(part: str, config: dict, rows: dict, baseline: str) -> None:
    for r in rows.values():
        r["x_faster_than_baseline"] = rows[baseline]["seconds_per_image"] / r["seconds_per_image"]
    md = table(rows, baseline)
    print(md)
    save(f"learned_{part}", {"config": {**config, "baseline": baseline}, "results": rows, "table": md},
         reproduce=REPRODUCE)


def part_ct(args) -> None:
    problem = make_problem("ct-parallel", size=128, views=30, noise=0.05)
    cache = generate_hdf5(problem, args.pairs, CACHE / "ct_parallel_128.h5")
    lam, sweep = tune(problem, "tv", "lam", [2.0, 3.0, 4.0, 6.0, 8.0, 12.0])
    x, y = test_set(problem)
    rows = {"fbp": per_image(problem, classical(problem, "fbp", filter="hann"), y, x),
            "tv": per_image(problem, classical(problem, "tv", lam=lam), y, x)}
    for model, minutes, options in (("unet", args.minutes_unet, {"width": 32}), ("lpd", args.minutes_lpd, {})):
        fn, info = learned(train(problem, "ct", model, minutes, cache, options=options))
        rows[model] = per_image(problem, fn, y, x) | info
    report("ct", {"problem": problem.config, "tv_lam": lam, "tv_sweep": sweep, "n_test": N_TEST,
                  "train_pairs": args.pairs, "minutes": {"unet": args.minutes_unet, "lpd": args.minutes_lpd}}, rows, "tv")


def part_consistency(args) -> None:
    problem = make_problem("ct-parallel", size=128, views=30, noise=0.05)
    x, y = test_set(problem)
    rows = {"fbp": per_image(problem, classical(problem, "fbp", filter="hann"), y, x)}
    fn, info = learned(train(problem, "consistency", "lpd", args.minutes_lpd, loss="consistency"))
    rows["lpd (consistency, no truth)"] = per_image(problem, fn, y, x) | info
    report("consistency", {"problem": problem.config, "loss": "0.5||Ax-y||^2 + lam TV(x), lam = preset TV weight",
                           "minutes": args.minutes_lpd}, rows, "fbp")


def part_schedules(args) -> None:
    problem = make_problem("ct-parallel", size=64, views=30, noise=0.05)
    x, y = test_set(problem)
    rows = {"fbp": per_image(problem, classical(problem, "fbp", filter="hann"), y, x)}
    variants = {"plain": {}, "curriculum (noise 0.01 -> 0.025 -> 0.05)": {"curriculum": "noise"},
                "multi-task (views 30/60/90)": {"multitask": ("views", (30, 60, 90))}}
    for i, (label, kw) in enumerate(variants.items()):
        fn, info = learned(train(problem, "schedules", "lpd", args.minutes_each, suffix=f"_{i}", options={"width": 16}, **kw))
        rows[label] = per_image(problem, fn, y, x) | info
    report("schedules", {"problem": problem.config, "minutes_each": args.minutes_each, "model": "lpd width 16"}, rows, "fbp")


def part_mri(args) -> None:
    problem = make_problem("mri", size=128, coils=4, acceleration=4.0)
    x, y = test_set(problem)
    lam, sweep = tune(problem, "wavelet", "lam", [0.0005, 0.001, 0.002, 0.004, 0.008])
    rows = {"zero-filled": per_image(problem, classical(problem, "baseline"), y, x),
            "L1-wavelet CS": per_image(problem, classical(problem, "wavelet", lam=lam), y, x)}
    unrolled = {"width": 32, "iterations": 5, "cg_iters": 4}
    for model, minutes, options in (("unet", args.minutes_unet, {"width": 32}), ("unrolled", args.minutes_lpd, unrolled)):
        fn, info = learned(train(problem, "mri", model, minutes, options=options))
        rows[model] = per_image(problem, fn, y, x) | info
    report("mri", {"problem": problem.config, "wavelet_lam": lam, "wavelet_sweep": sweep,
                   "minutes": {"unet": args.minutes_unet, "unrolled": args.minutes_lpd}}, rows, "L1-wavelet CS")


def part_deblur(args) -> None:
    problem = make_problem("deblur", size=128)
    n_test = QUICK_TEST if args.quick else 24
    x, y = test_set(problem, n_test)
    lam, sweep = tune(problem, "tv", "lam", [0.001, 0.002, 0.004, 0.008], n=4 if args.quick else 16)
    rows = {"wiener": per_image(problem, classical(problem, "baseline"), y, x),
            "tv": per_image(problem, classical(problem, "tv", lam=lam), y, x)}
    if args.quick:
        run = train(problem, "quick_deblur", "unet", None, options={"width": 16}, epochs=QUICK_EPOCHS, retrain=True)
    else:
        run = train(problem, "deblur", "unet", args.minutes_unet, options={"width": 32})
    fn, info = learned(run)
    rows["unet"] = per_image(problem, fn, y, x) | info
    report("deblur", {"problem": problem.config, "tv_lam": lam, "tv_sweep": sweep, "n_test": n_test,
                      "note": "natural images: scikit-image's bundled set, disjoint train/test crops"}, rows, "tv")


def part_radio(args) -> None:
    """Snapshot radio interferometry (27 antennas, 702 visibilities, 64x64 sky): CLEAN, L1 and
    TV against a U-Net on the dirty image, for skies of sources and for Hubble deep-field crops."""
    for sky in ("sources", "hubble") if args.sky == "both" else (args.sky,):
        problem = make_problem("radio", sky=sky)
        x, y = test_set(problem)
        lam_l1, sweep_l1 = tune(problem, "l1", "lam", [0.3, 1.0, 3.0, 10.0])
        lam_tv, sweep_tv = tune(problem, "tv", "lam", [1.0, 3.0, 10.0, 30.0])
        rows = {"dirty image": per_image(problem, classical(problem, "baseline"), y, x),
                "clean": per_image(problem, classical(problem, "clean"), y, x),
                "l1": per_image(problem, classical(problem, "l1", lam=lam_l1), y, x),
                "tv": per_image(problem, classical(problem, "tv", lam=lam_tv), y, x)}
        run = train(problem, f"radio_{sky}", "unet", args.minutes_unet, options={"width": 16, "depth": 3},
                    training={"batch_size": 32, "steps_per_epoch": 200})
        for name, symmetrize in (("unet", False), ("unet, half-turn average", True)):
            fn, info = learned(run, symmetrize)
            rows[name] = per_image(problem, fn, y, x) | info
        report(f"radio_{sky}", {"problem": problem.config, "l1_lam": lam_l1, "l1_sweep": sweep_l1, "tv_lam": lam_tv,
                                "tv_sweep": sweep_tv, "n_test": N_TEST,
                                "visibilities": problem.operator.range_shape[0]}, rows, "clean")


def part_htc(args) -> None:
    from inverselab.data import read_htc2022, read_segmentation
    from inverselab.problems.real import scan_problem, score_segmentation

    data = Path(args.data)
    problem = make_problem("ct-htc", size=args.size, start=299.0, arc=30.0)
    run = train(problem, "htc", "unet", args.minutes_unet, options={"width": 16})
    trained, info = load_run(run), training_info(run)
    rows = {}
    for scan_file, truth_file in (("tb_category7.mat", "tb_groundtruth.npy"),):
        scan = read_htc2022(data / scan_file, image_size=args.size)
        truth = read_segmentation(data / truth_file)
        real = scan_problem(scan)
        trained.network.bind(real)  # the U-Net now post-processes this scan's FBP
        y = scan.sinogram.float()
        for name, recon in (("fbp", classical(real, "fbp", filter="hann")), ("tv", classical(real, "tv")),
                            ("unet", lambda v: trained.network.eval()(v))):
            with torch.no_grad():
                start = time.perf_counter()
                est = recon(y)
                seconds = time.perf_counter() - start
            rows[f"{scan.name} {name}"] = {"mcc": score_segmentation(est.double(), truth), "seconds_per_image": seconds}
    rows["unet"] = info | rows.get("unet", {})
    md = ["| scan, method | MCC | seconds |", "|---|---|---|"] + [
        f"| {k} | {v['mcc']:.3f} | {v['seconds_per_image']:.3f} |" for k, v in rows.items() if "mcc" in v]
    print("\n".join(md))
    save("learned_htc", {"config": {"problem": problem.config, "size": args.size, "minutes": args.minutes_unet,
                                    "note": "U-Net trained on simulated discs with holes in tb_category7's 30-degree arc"},
                         "results": rows, "table": "\n".join(md)})


PARTS = {"ct": part_ct, "consistency": part_consistency, "schedules": part_schedules, "mri": part_mri, "deblur": part_deblur,
         "radio": part_radio, "htc": part_htc}


def main() -> None:
    parser = BenchmarkParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=list(PARTS))
    parser.add_argument("--minutes-lpd", type=float, default=25.0, help="budget of LPD / the unrolled network")
    parser.add_argument("--minutes-unet", type=float, default=15.0)
    parser.add_argument("--minutes-each", type=float, default=4.0, help="schedules part: budget per variant")
    parser.add_argument("--pairs", type=int, default=8000, help="ct part: cached training pairs")
    parser.add_argument("--size", type=int, default=256, help="htc part: reconstruction grid")
    parser.add_argument("--sky", choices=("sources", "hubble", "both"), default="both", help="radio part: which skies")
    parser.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data" / "ct" / "htc2022"))
    parser.add_argument("--quick", action="store_true",
                        help=f"deblur only: a U-Net of width 16 trained {QUICK_EPOCHS * 50} steps, {QUICK_TEST} test images")
    args = parser.parse_args()
    if args.quick and args.part != "deblur":
        parser.error("--quick is available for the deblur part; run the others in full")
    torch.manual_seed(0)
    PARTS[args.part](args)


if __name__ == "__main__":
    main()
