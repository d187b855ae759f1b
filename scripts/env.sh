# Source this to build grace by hand with the project's libtorch (the Makefile does the same):
#   source scripts/env.sh && cargo build --release
# Uses $LIBTORCH when set, else the virtualenv made by scripts/setup-libtorch.sh.
_grace_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${LIBTORCH:-} ]]; then
  export VIRTUAL_ENV="$_grace_root/.venv"
  export PATH="$VIRTUAL_ENV/bin:$PATH"
  export LIBTORCH_USE_PYTORCH=1
fi
unset _grace_root
