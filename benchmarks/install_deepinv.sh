#!/usr/bin/env bash
# Install deepinv (and the torchvision it imports) into the venv $1 beside the CPU build of torch,
# for the interoperability tests (make test) and the benchmarks (setup_peers.sh). Idempotent.
# See ../shared/PEERS.md for why deepinv and torchvision are installed with --no-deps.
set -euo pipefail

VENV=${1:?usage: install_deepinv.sh VENV}
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --quiet --disable-pip-version-check)

# deepinv and torchvision without their dependencies (they would replace torch), then the
# dependencies deepinv needs.
"${PIP[@]}" --no-deps "deepinv==0.5.0" "torchvision==0.28.0"
"${PIP[@]}" numpy matplotlib tqdm torchmetrics einops requests h5py natsort scikit-image
# PyPI's torchvision is built against CUDA torch: its C++ ops do not load beside the CPU
# torch, and _meta_registrations.py registers fake kernels for torchvision::nms / qnms
# unconditionally, which makes `import torchvision` fail. Guard both registrations.
"$PY" - <<'PYEOF'
import pathlib
import re
import sysconfig

path = pathlib.Path(sysconfig.get_paths()["purelib"]) / "torchvision" / "_meta_registrations.py"
text = path.read_text()
# The module already imports torchvision.extension, so the guard needs no new import.
guard = "if torchvision.extension._has_ops():\n"
pattern = re.compile(
    r'^@torch\.library\.register_fake\("torchvision::(nms|qnms)"\)\n(def .*?)(?=^\S|\Z)',
    re.S | re.M,
)
if "# inverselab: guarded" in text:
    print(f"torchvision patch already applied: {path}")
else:
    def indent(match: re.Match) -> str:
        block = match.group(0).rstrip("\n")
        body = "".join("    " + line if line else line for line in block.splitlines(keepends=True))
        return "# inverselab: guarded (C++ ops missing beside CPU torch)\n" + guard + body + "\n\n\n"

    patched, count = pattern.subn(indent, text)
    if count != 2:
        raise SystemExit(f"expected 2 nms/qnms fake registrations in {path}, found {count}")
    path.write_text(patched)
    print(f"torchvision patch applied: {path}")
PYEOF

