"""The argument parser of the ``inverselab`` command line."""

from __future__ import annotations

import argparse

from .commands import (
    cmd_average,
    cmd_ct_file,
    cmd_data_generate,
    cmd_demo,
    cmd_evaluate,
    cmd_list,
    cmd_report,
    cmd_solve,
    cmd_stability,
    cmd_train,
)
from .values import UsageError, integer, number, seed, span

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str):  # noqa: D401
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    from ..methods import METHODS
    from ..models import MODELS
    from ..training import LOSSES

    parser = _Parser(prog="inverselab", description="Inverse problems: classical and learned reconstruction.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list problems and methods")
    p.add_argument("-v", "--verbose", action="store_true", help="show parameters and methods per problem")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("solve", help="reconstruct simulated data of a problem with any method or a trained run")
    p.add_argument("problem", nargs="?", help="problem name (see 'inverselab list')")
    p.add_argument("--problem", dest="problem_file", metavar="FILE",
                   help="a problem file (TOML), or a run's config.toml (then its method, n and seed too: the same run again)")
    p.add_argument("--method", help=f"one of {', '.join(METHODS.names())}, or a training run directory (default: the "
                   "problem's own; 'inverselab list -v' shows which apply)")
    p.add_argument("--n", type=integer(1), help="number of samples (default 8, or fewer where the problem has fewer "
                   "distinct truths: 1 for fwi-marmousi)")
    p.add_argument("--seed", type=seed, help="seed of the truths (noise uses seed + 1; default 0)")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="problem overrides, e.g. views=60")
    p.add_argument("--param", nargs="*", metavar="KEY=VALUE", help="method hyper-parameters, e.g. lam=0.01")
    p.add_argument("--double", action="store_true", help="compute in float64")
    p.add_argument("--device", default="cpu", help="where the method runs, e.g. cuda (default cpu)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("ct-file", help="reconstruct a measured CT scan: HTC2022 .mat (fan beam), or a parallel-beam "
                       "sinogram or projection stack in .npy, TIFF or HDF5")
    p.add_argument("file", help="HTC2022 .mat file, or a .npy / .tif / file.h5:dataset of a parallel-beam scan")
    p.add_argument("--method", default="tv", help="baseline, fbp, tikhonov, tv or tv-admm")
    p.add_argument("--size", type=integer(8, 8192), default=None,
                   help="reconstruction grid (default 512 for HTC2022, n_detectors / sqrt(2) otherwise)")
    p.add_argument("--param", nargs="*", metavar="KEY=VALUE", help="method hyper-parameters")
    p.add_argument("--out", required=True, help="run directory to write")
    htc = p.add_argument_group("HTC2022 files")
    htc.add_argument("--truth", help="ground-truth segmentation .npy: report the MCC of the Otsu segmentation")
    htc.add_argument("--no-support", action="store_true", help="do not constrain TV to the disc fitted to the data")
    scan = p.add_argument_group("parallel-beam files")
    scan.add_argument("--angles", type=span(float), default=(0.0, 180.0), metavar="FIRST:END",
                      help="angular range in degrees, end excluded, spread over the projections (default 0:180)")
    scan.add_argument("--angles-file", help=".npy of one angle per projection, in degrees")
    scan.add_argument("--layout", choices=("sinogram", "projections"), default="sinogram",
                      help="(n_angles, n_detectors) [or (slices, n_angles, n_detectors)], or a projection stack "
                           "(n_angles, rows, n_detectors)")
    scan.add_argument("--rows", type=span(int), metavar="START:STOP", help="detector rows (slices) to reconstruct")
    scan.add_argument("--transmission", action="store_true",
                      help="the file holds intensities: convert with --flat/--dark or --open-region")
    scan.add_argument("--flat", help="flat-field (open-beam) file: one value per detector element, or a stack")
    scan.add_argument("--dark", help="dark-field file, as --flat")
    scan.add_argument("--open-region", type=span(int), metavar="START:STOP",
                      help="detector columns outside the object (normalise each projection by them)")
    scan.add_argument("--centre", default="auto",
                      help="rotation axis on the detector in elements from the first (0-based), or auto (default)")
    scan.add_argument("--stripes", action="store_true", help="remove stripes of miscalibrated detector elements")
    p.set_defaults(func=cmd_ct_file)

    p = sub.add_parser("train", help=f"train a network ({', '.join(MODELS.names())}) on a problem")
    p.add_argument("problem", nargs="?", help="problem name (see 'inverselab list')")
    p.add_argument("--problem", dest="problem_file", metavar="FILE", help="a problem file (TOML) or a run's config.toml")
    p.add_argument("--model", required=True, choices=MODELS.names(), metavar="MODEL",
                   help="; ".join(f"{e.name}: {e.description}" for e in MODELS))
    p.add_argument("--loss", choices=LOSSES.names(), metavar="LOSS",
                   help="; ".join(f"{e.name}: {e.description}" for e in LOSSES)
                   + " (default: the model's own, see 'inverselab list')")
    p.add_argument("--ensemble", type=integer(2), metavar="K",
                   help="train K members (seeds SEED..SEED+K-1) into OUT/member-*, for 'evaluate OUT --uq ensemble'")
    p.add_argument("--init", metavar="RUN", help="start from the weights of a finished run (cwgan: an InversionNet run)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=number(), help="training-time budget")
    budget.add_argument("--epochs", type=integer(1), help="number of epochs (of --steps-per-epoch steps)")
    p.add_argument("--curriculum", metavar="PARAM", nargs="?", const="noise", choices=["noise", "views", "acceleration"],
                   help="train easy-to-hard over PARAM (default noise) ending at the problem's value")
    p.add_argument("--multitask", metavar="KEY=V1,V2,...", help="one network over several settings, e.g. views=30,60,90")
    p.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="problem overrides")
    p.add_argument("--option", nargs="*", metavar="KEY=VALUE", help="model options, e.g. width=16 depth=3 dropout=0.1")
    p.add_argument("--loss-option", nargs="*", metavar="KEY=VALUE",
                   help="loss parameters, e.g. l1=1 ssim=0.5 weighting=psnr (supervised) or property_weight=1000 (property-wgan)")
    p.add_argument("--data", help="HDF5 cache of training pairs ('inverselab data generate')")
    p.add_argument("--batch-size", type=integer(1))
    p.add_argument("--lr", type=number())
    p.add_argument("--steps-per-epoch", type=integer(1))
    p.add_argument("--checkpoint-every", type=integer(0), help="also checkpoint every N steps")
    p.add_argument("--keep", type=integer(0), help="checkpoints kept on disk (default 2; 0 keeps all, for 'inverselab average')")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", help="where to train (default: this rank's GPU when there is one, else cpu)")
    p.add_argument("--n", type=integer(1), default=32, help="held-out samples scored after training")
    p.add_argument("--out", required=True, help="run directory")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a trained run on held-out samples (metrics.json like 'solve')")
    p.add_argument("run", help="training run directory")
    p.add_argument("--n", type=integer(1), default=100)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="evaluate on a changed problem, e.g. noise=0.1")
    p.add_argument("--batch-size", type=integer(1), default=1, help="images per network call (timing is per image)")
    p.add_argument("--device", help="where the network runs (default: cuda when available, else cpu)")
    p.add_argument("--symmetrize", action="store_true",
                   help="average the network over the problem's exact symmetries (radio: the half turn); one "
                        "network call per symmetry")
    p.add_argument("--out", help="where to write metrics.json and figures (default: the run)")
    p.add_argument("--uq", choices=["dropout", "ensemble", "samples"],
                   help="predictive uncertainty and its calibration instead: MC dropout, the ensemble RUN/member-* "
                        "('train --ensemble K'), or a generator's samples; writes uq-KIND.json and figures")
    p.add_argument("--samples", type=integer(2), default=32, help="--uq dropout/samples: draws per measurement")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("average", help="average the weights of a run's last checkpoints into a new run (SWA)")
    p.add_argument("run", help="training run directory (trained with --keep 0 or a large --keep)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--last", type=integer(1), metavar="K", help="the K latest checkpoints")
    which.add_argument("--from-step", type=integer(0), metavar="S", help="every checkpoint from step S on")
    p.add_argument("--out", required=True, help="new run directory (score it with 'inverselab evaluate')")
    p.set_defaults(func=cmd_average)

    p = sub.add_parser("stability", help="noise sweep, worst-case perturbations and Lipschitz constants of a trained "
                                         "network beside the baseline and TV")
    p.add_argument("run", help="training run directory")
    p.add_argument("--n", type=integer(1), default=50, help="held-out samples of the noise sweep")
    p.add_argument("--n-attack", type=integer(1), default=10, help="held-out samples attacked")
    p.add_argument("--levels", nargs="+", type=number(), help="relative noise levels (default: 1/4, 1/2, 1, 2 x the training noise)")
    p.add_argument("--eps", nargs="+", type=number(), default=[0.01, 0.05], help="perturbation sizes relative to ||y||")
    p.add_argument("--steps", type=integer(1), default=10, help="projected gradient ascent steps")
    p.add_argument("--tv-iters", type=integer(1), default=100, help="TV iterations (differentiated through)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--out", help="where to write stability.json and the figure (default: the run)")
    p.set_defaults(func=cmd_stability)

    p = sub.add_parser("report", help="one self-contained HTML report comparing runs")
    p.add_argument("runs", nargs="+", help="run directories (solve, train or evaluate)")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--title", default="inverselab report")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("data", help="datasets of training pairs")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    g = data_sub.add_parser("generate", help="simulate pairs into an HDF5 cache (resumable)")
    g.add_argument("problem", nargs="?", help="problem name (see 'inverselab list')")
    g.add_argument("--problem", dest="problem_file", metavar="FILE", help="a problem file (TOML) or a run's config.toml")
    g.add_argument("--n", type=integer(1), required=True)
    g.add_argument("--out", required=True, help=".h5 file")
    g.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="problem overrides")
    g.add_argument("--offset", type=integer(0), default=0, help="index of the first pair in the training stream")
    g.set_defaults(func=cmd_data_generate)

    p = sub.add_parser("demo", help="the main job: FBP, TV, U-Net and LPD on CT, with an HTML report")
    p.add_argument("--quick", action="store_true", help="smaller and shorter (under 2 minutes)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--out", default="runs/demo")
    p.set_defaults(func=cmd_demo)
    return parser
