"""Small deterministic training run, launched by the tests as a subprocess (plain python or
torchrun). Usage: python train_script.py OUT [--slow SECONDS] [--resume] [--steps N]
[--batch B] [--dump-params FILE]"""

from __future__ import annotations

import argparse
import os
import time

import torch

import inverselab as il
from inverselab.models import build_model
from inverselab.training import OnTheFly, Trainer, make_task
from inverselab.training.distributed import teardown

torch.set_num_threads(1)


class SlowPairs(OnTheFly):
    """On-the-fly pairs with a delay, so a test can kill training mid-epoch."""

    delay = 0.0

    def get(self, indices):
        time.sleep(self.delay)
        return super().get(indices)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps-per-epoch", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--checkpoint-every", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--dump-params", help="write this rank's parameters (safetensors) here")
    args = parser.parse_args()
    torch.manual_seed(0)
    problem = il.make_problem("ct-parallel", size=32, views=12)
    SlowPairs.delay = args.slow
    task = make_task(problem, val_size=4, source=SlowPairs(problem, 1000))
    model = build_model("lpd", problem, width=8, iterations=3, dropout=args.dropout)
    trainer = Trainer(model, task, out=args.out, batch_size=args.batch, steps_per_epoch=args.steps_per_epoch,
                      checkpoint_every=args.checkpoint_every, warmup_steps=2, lr=3e-3)
    trainer.fit(epochs=args.epochs, resume=args.resume)
    if args.dump_params:
        from safetensors.torch import save_file

        rank = os.environ.get("RANK", "0")
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, f"{args.dump_params}.{rank}")
    teardown()  # leave the process group, as train_job does: exiting inside it can abort a rank


if __name__ == "__main__":
    main()
