# The vLLM server for the annotate stage's OpenAI-compatible backend. vLLM's pins (torch,
# transformers) conflict with whisperx, so it is its own image, reached over HTTP.
# Build:  docker build -f infra/docker/vllm.Dockerfile -t emodata-vllm .
FROM vllm/vllm-openai:v0.11.0

ENV HF_HUB_ENABLE_HF_TRANSFER=0
# The model comes from the hub at start-up (or a mounted volume: --model /models/NAME).
ENTRYPOINT ["python3", "-m", "vllm.entrypoints.openai.api_server"]
CMD ["--model", "Qwen/Qwen2.5-VL-7B-Instruct", "--host", "0.0.0.0", "--port", "8000", \
     "--max-model-len", "16384"]
