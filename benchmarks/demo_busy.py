"""`inverselab demo` on an idle machine and with cores kept busy by other processes.

Runs the demo (a subprocess each time, a fresh output folder) once with no load and once
while ``--busy`` processes each spin one core at 100 %, and records per run its wall time
and, from the demo's ``timing.json``, every method's seconds per image and its speed-up over
TV at the demo's batch size. The busy processes are plain Python loops started before the
demo and stopped after it.

    .venv/bin/python benchmarks/demo_busy.py [--busy 1] [--quick]

Writes ``benchmarks/results/demo_busy.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BenchmarkParser, save  # noqa: E402

SPIN = "while True:\n    pass\n"


def run_demo(out: Path, busy: int, quick: bool) -> dict:
    """One demo run with ``busy`` spinning processes beside it."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
    try:
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "inverselab", "demo", "--out", str(out)] + (["--quick"] if quick else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    if done.returncode != 0:
        raise SystemExit(f"demo failed ({done.returncode}):\n{done.stderr[-2000:]}")
    timing = json.loads((out / "timing.json").read_text())
    batch = str(timing["batch_size"])
    per_image = {m: t[batch]["per_item"] for m, t in timing["timing"].items()}
    psnr = {m: json.loads((out / m / "metrics.json").read_text())["psnr"] for m in per_image}
    return {"busy_processes": busy, "wall_seconds": wall, "batch_size": timing["batch_size"],
            "per_image_seconds": per_image, "psnr": psnr,
            "speedup_over_tv": {m: per_image["tv"] / s for m, s in per_image.items()},
            "spread": {m: t[batch]["spread"] for m, t in timing["timing"].items()},
            "table": done.stdout[done.stdout.find("\nct-parallel"):].strip()}


def main() -> None:
    parser = BenchmarkParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busy", type=int, default=1, help="spinning processes in the loaded run")
    parser.add_argument("--quick", action="store_true", help="the demo's quick setting")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for busy in (0, args.busy):
            run = run_demo(Path(tmp) / f"busy{busy}", busy, args.quick)
            runs.append(run)
            print(f"\n{busy} busy process(es): demo took {run['wall_seconds']:.0f} s\n{run['table']}")
    save("demo_busy", {"config": vars(args), "runs": runs})


if __name__ == "__main__":
    main()
