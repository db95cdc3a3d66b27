#!/usr/bin/env bash
# Build the benchmark environment .venv-bench with inverselab and its peer libraries
# (astra-toolbox, scikit-image, deepinv, deepxde) beside the CPU build of torch.
#
# Run from the repository root:  bash benchmarks/setup_peers.sh
# Idempotent: re-running reuses the venv, reinstalls nothing that is already satisfied and
# re-applies the torchvision patch only if it is missing. See ../shared/PEERS.md for why
# deepinv and torchvision are installed with --no-deps.
set -euo pipefail

VENV=.venv-bench
if [[ ! -f pyproject.toml ]] || ! grep -q '^name = "inverselab"' pyproject.toml; then
    echo "run this from the inverselab repository root" >&2
    exit 1
fi

[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check)

# torch first (the CPU wheel from local disk), so nothing below can pull a CUDA build.
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e .
"${PIP[@]}" "astra-toolbox==2.5.0" scikit-image
bash benchmarks/install_deepinv.sh "$VENV"
# DeepXDE (PINN peer, PyTorch backend). It does not depend on torch, so pip leaves the CPU
# torch alone; it brings scikit-learn and scikit-optimize.
"${PIP[@]}" "deepxde==1.15.0"


DDE_BACKEND=pytorch "$PY" - <<'PYEOF'
import astra
import deepxde
import deepinv
import skimage
import torch
import torchvision

import inverselab

assert not torch.cuda.is_available() and "+cpu" in torch.__version__, torch.__version__
assert deepxde.backend.backend_name == "pytorch", deepxde.backend.backend_name
print(
    f"ok: torch {torch.__version__}, torchvision {torchvision.__version__}, "
    f"astra {astra.__version__}, deepinv {deepinv.__version__}, "
    f"scikit-image {skimage.__version__}, deepxde {deepxde.__version__} "
    f"({deepxde.backend.backend_name}), inverselab {inverselab.__version__}"
)
PYEOF
