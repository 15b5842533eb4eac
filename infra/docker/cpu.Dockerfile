# CPU worker (and head) image: FFmpeg, the locked Python env with the ASR, faces and S3 extras,
# and the registry's model files baked in (no downloads at run time).
# Build from the repository root:  docker build -f infra/docker/cpu.Dockerfile -t emodata-cpu .
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy \
    EMODATA_MODELS=/opt/emodata/models \
    PATH=/app/.venv/bin:$PATH

# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng sox libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project --extra asr --extra faces --extra s3
COPY emodata ./emodata
COPY schemas ./schemas
COPY pipelines ./pipelines
RUN uv sync --frozen --no-dev --extra asr --extra faces --extra s3 \
 && emodata models pull --profile cpu

# Ray's default ports; KubeRay sets the start command.
EXPOSE 6379 8265 10001
CMD ["emodata", "--help"]
