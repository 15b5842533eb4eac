"""A tiny, randomly initialised Qwen2-VL, built locally, for testing the vision path.

No vision-language model small enough for a CPU test can be fetched without a model hub, so one
is made from a config: two text layers and a two-block vision tower (patch 14, spatial merge 2),
the Qwen2.5 tokenizer of the cached ``qwen2.5-coder-0.5b-instruct`` folder (which already holds
the vision tokens), a chat template that renders every image part as
``<|vision_start|><|image_pad|><|vision_end|>`` and an image processor whose pixel limits make an
image a few dozen tokens. Its words are noise; what it proves is that images reach a model, in
transformers and in vLLM alike (both load ``Qwen2VLForConditionalGeneration`` from the folder).

The folder is keyed by a hash of everything that goes into it, so a second call reuses it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from emodata.models.registry import models_dir, resolve

log = logging.getLogger(__name__)

#: The model whose tokenizer the tiny VLM borrows (Qwen2-VL uses the Qwen2 vocabulary).
TOKENIZER_FROM = "qwen2.5-coder-0.5b-instruct"
#: One merged token is a 28 x 28 pixel area (patch 14, merge 2).
TOKEN_PIXELS = 28 * 28

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] in ('image', 'image_url') or 'image' in part or 'image_url' in part %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Head sizes of 64 (text and vision): vLLM's CPU attention kernels support those.
TEXT: dict[str, Any] = {
    "vocab_size": 151936,
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 4096,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    # multimodal RoPE: (temporal, height, width) halves of the 64-wide heads
    "rope_scaling": {"type": "mrope", "rope_type": "default", "mrope_section": [8, 12, 12]},
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "pad_token_id": 151643,
}
VISION: dict[str, Any] = {
    "depth": 2,
    "embed_dim": 128,
    "num_heads": 2,
    "mlp_ratio": 2,
    "hidden_size": TEXT["hidden_size"],  # the merger's output feeds the text model
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "in_channels": 3,
}
PIXELS = {"min_pixels": 4 * TOKEN_PIXELS, "max_pixels": 36 * TOKEN_PIXELS}
SEED = 0


def _recipe() -> dict[str, Any]:
    return {
        "text": TEXT,
        "vision": VISION,
        "pixels": PIXELS,
        "template": CHAT_TEMPLATE,
        "tokenizer": TOKENIZER_FROM,
        "seed": SEED,
        "version": 2,
    }


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(_recipe(), sort_keys=True).encode()).hexdigest()[:12]


def image_tokens(width: int, height: int) -> int:
    """Tokens one image of this size becomes in the prompt (the processor's own arithmetic)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    h, w = smart_resize(height, width, factor=28, **PIXELS)
    return (h // 28) * (w // 28)


def _lift_top_level(path: Path) -> None:
    """transformers 4.x writes ``architectures`` into ``text_config`` of a Qwen2-VL config; vLLM
    and transformers 5 look for it (and for ``tie_word_embeddings``) at the top level."""
    cfg = json.loads(path.read_text(encoding="utf-8"))
    cfg["architectures"] = ["Qwen2VLForConditionalGeneration"]
    cfg["tie_word_embeddings"] = TEXT["tie_word_embeddings"]
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def build_tiny_vlm(root: Path | None = None) -> Path:
    """The folder of the tiny Qwen2-VL under ``root`` (default: the models folder), built once."""
    dest = (root or models_dir()) / f"tiny-qwen2-vl-{recipe_hash()}"
    if (dest / "config.json").is_file() and (dest / "model.safetensors").is_file():
        return dest
    try:
        import torch
        from transformers import (
            Qwen2TokenizerFast,
            Qwen2VLConfig,
            Qwen2VLForConditionalGeneration,
            Qwen2VLImageProcessor,
            Qwen2VLProcessor,
            Qwen2VLVideoProcessor,
        )
    except ImportError as e:
        raise RuntimeError("building the tiny VLM needs: pip install 'emodata[llm]'") from e
    tokenizer = Qwen2TokenizerFast.from_pretrained(resolve(TOKENIZER_FROM))
    vision_tokens = ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"]
    for token in vision_tokens:
        if tokenizer.convert_tokens_to_ids(token) in (None, tokenizer.unk_token_id):
            raise RuntimeError(f"the {TOKENIZER_FROM} tokenizer has no {token} token")
    # in the vocabulary but not marked special by the conversion: the text would split them
    size = len(tokenizer)
    tokenizer.add_special_tokens({"additional_special_tokens": vision_tokens})
    if len(tokenizer) != size:
        raise RuntimeError(f"the {TOKENIZER_FROM} tokenizer grew; its vision tokens moved")
    tokenizer.chat_template = CHAT_TEMPLATE
    config = Qwen2VLConfig(
        # copies: the config rewrites rope_scaling in place, which would change the recipe's
        # hash (and so the folder) for the rest of the process
        text_config=copy.deepcopy(TEXT),
        vision_config=copy.deepcopy(VISION),
        image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=True,
        **{k: TEXT[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")},
    )
    torch.manual_seed(SEED)
    model = Qwen2VLForConditionalGeneration(config).to(torch.float32).eval()
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**PIXELS),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(**PIXELS),
    )
    processor.chat_template = CHAT_TEMPLATE
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-vlm-", dir=dest.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        processor.save_pretrained(staging)
        _lift_top_level(staging / "config.json")
        (staging / "recipe.json").write_text(json.dumps(_recipe(), indent=1), encoding="utf-8")
        if dest.exists():  # a partial folder from an interrupted build
            shutil.rmtree(dest)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("built the tiny VLM in %s", dest)
    return dest
