#!/usr/bin/env bash
# Installs the libtorch that grace links against: PyTorch 2.11.0 from PyPI in a virtualenv kept in a
# cache outside the checkout (so fresh clones reuse it), and points ./.venv at it. Idempotent.
#
# A user with their own libtorch 2.11 (e.g. an existing PyTorch 2.11 install) sets LIBTORCH instead,
# and this script does nothing.
set -euo pipefail

TORCH_VERSION=2.11.0
TORCHJD_VERSION=0.18.0
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${GRACE_TORCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/grace/venv-torch-$TORCH_VERSION}

if [[ -n ${LIBTORCH:-} ]]; then
  if [[ ! -d $LIBTORCH/lib ]]; then
    echo "error: LIBTORCH=$LIBTORCH has no lib/ folder; point it at a libtorch $TORCH_VERSION (the folder holding lib/ and include/), or unset it to let this script install one" >&2
    exit 1
  fi
  echo "using LIBTORCH=$LIBTORCH"
  exit 0
fi

have_torch() {
  [[ -x $venv/bin/python ]] && "$venv/bin/python" - <<PY 2>/dev/null
import torch, sys
sys.exit(0 if torch.__version__.split('+')[0] == "$TORCH_VERSION" else 1)
PY
}

mkdir -p "$(dirname "$venv")"
# Two builds starting at once (make -j, parallel clones) must not install into the same venv together.
exec 9>"$venv.lock"
flock 9

if ! have_torch; then
  python=${PYTHON:-python3}
  command -v "$python" >/dev/null || { echo "error: $python not found; install Python 3.9+ (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
  echo "installing torch==$TORCH_VERSION into $venv (one-time, several GB)…"
  [[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "torch==$TORCH_VERSION" numpy
  have_torch || { echo "error: torch $TORCH_VERSION did not import from $venv after install" >&2; exit 1; }
fi
# The reference implementations used by the benchmarks (optional extras, small).
if ! "$venv/bin/python" -c 'import pandas, sklearn, safetensors' 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet pandas scikit-learn safetensors || echo "warning: pandas/scikit-learn/safetensors not installed; reference benchmarks will be skipped" >&2
fi
# TorchJD, the oracle of the Gram-matrix methods (crates/grace-core/tests/torchjd_oracle.rs), pinned
# because its aggregators' conventions were checked at this version; [full] brings the cvxpy, ecos
# and clarabel that its NashMTL and CAGrad need. It requires torch ≥ 2.3, so the torch above stays.
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys, cvxpy, ecos, clarabel; sys.exit(m.version('torchjd') != '$TORCHJD_VERSION')" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet "torchjd[full]==$TORCHJD_VERSION" || echo "warning: torchjd $TORCHJD_VERSION not installed; the TorchJD oracle test will fail" >&2
fi

ln -sfn "$venv" "$root/.venv"
echo "libtorch: $("$venv/bin/python" -c 'import torch, os; print(torch.__version__, os.path.join(os.path.dirname(torch.__file__), "lib"))')"
