"""How the local vLLM server is sized: KV cache for the requests in flight, cores to compute on."""

from __future__ import annotations

import json
import os

from emodata.llm.vllm_server import VLLMServer, kv_bytes_per_token, kv_cache_gib_for

# Qwen2.5-1.5B's shape: 28 layers, 12 query heads of 128, 2 KV heads
QWEN15 = {"num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
          "hidden_size": 1536}  # fmt: skip


def _model(tmp_path, cfg):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return tmp_path


def test_kv_bytes_per_token_follow_the_model_shape(tmp_path):
    model = _model(tmp_path, QWEN15)
    assert kv_bytes_per_token(model) == 28 * 2 * 2 * 128 * 4
    assert kv_bytes_per_token(model, "bfloat16") == 28 * 2 * 2 * 128 * 2


def test_the_cache_holds_every_request_in_flight_in_whole_gib(tmp_path):
    model = _model(tmp_path, QWEN15)
    sixteen = kv_cache_gib_for(model, 16, 3072)
    assert isinstance(sixteen, int)
    assert sixteen * 2**30 >= 16 * 3072 * kv_bytes_per_token(model)
    assert kv_cache_gib_for(model, 1, 512) == 1  # never below 1
    assert kv_cache_gib_for(model, 1000, 4096, cap_gib=6) == 6  # never above the cap


def test_the_engine_computes_on_every_core_unless_told_otherwise(tmp_path):
    cores = sorted(os.sched_getaffinity(0))
    env = VLLMServer(tmp_path)._thread_env()
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == ",".join(map(str, cores))
    if len(cores) > 2:  # leaving more than one core free is vLLM's own default
        assert VLLMServer(tmp_path, threads=1)._thread_env() == {}
