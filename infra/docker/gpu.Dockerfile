# GPU worker image: CUDA runtime, the locked env with the ASR (CTranslate2 on CUDA), whisperx
# and faces extras (onnxruntime-gpu can replace onnxruntime for insightface's CUDA provider).
# Build from the repository root:  docker build -f infra/docker/gpu.Dockerfile -t emodata-gpu .
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    EMODATA_MODELS=/opt/emodata/models \
    PATH=/app/.venv/bin:/root/.local/bin:$PATH

# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng sox libgl1 libglib2.0-0 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv python install 3.11 \
 && uv sync --frozen --no-dev --no-install-project --python 3.11 \
      --extra asr --extra whisperx --extra faces --extra s3
COPY emodata ./emodata
COPY schemas ./schemas
COPY pipelines ./pipelines
RUN uv sync --frozen --no-dev --python 3.11 --extra asr --extra whisperx --extra faces --extra s3 \
 && emodata models pull --profile cpu

CMD ["emodata", "--help"]
