"""transformers in-process, CPU or GPU, for small local chat models.

JSON-schema requests are decoded under the schema with lm-format-enforcer (a prefix-allowed-
tokens function), so even a tiny model returns parseable, schema-valid JSON; generation stops
as soon as the JSON document is complete. A model directory or a registry name is accepted;
a ``.gguf`` file loads through transformers' GGUF support.

With ``vision: true`` the model folder must hold a processor with an image processor (a
vision-language model such as Qwen2-VL): the request's image parts (data URLs) are decoded and
go through the processor with the chat-templated text, and the response records how many of the
prompt's tokens the images became. Text-only backends drop image parts.

``kind: transformers``, registered at the bottom.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from emodata.annotate.backends.base import Backend, Request, Response
from emodata.annotate.session import Preparing, resolve_model
from emodata.annotate.settings import LLM_BACKENDS, BackendConfig
from emodata.backends import BackendSpec
from emodata.models import model_path
from emodata.stages.registry import Requirement

log = logging.getLogger(__name__)


def _text_only(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            content = "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
        out.append({"role": m["role"], "content": content})
    return out


def _with_images(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Messages for a processor's chat template (image parts as ``{"type": "image"}``) and the
    decoded images, in the order they appear."""
    from PIL import Image

    out, images = [], []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            parts = []
            for p in content:
                if p.get("type") != "image_url":
                    parts.append(p)
                    continue
                url = p["image_url"]["url"]
                head, _, data = url.partition(",")
                if not head.startswith("data:image/") or not head.endswith(";base64"):
                    raise ValueError(f"image part is not a base64 data URL: {url[:40]}")
                try:
                    image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
                    image.load()
                except (binascii.Error, OSError, Image.DecompressionBombError) as e:
                    raise ValueError(f"image part does not decode: {e}") from e
                images.append(image.convert("RGB"))
                parts.append({"type": "image"})
            content = parts
        out.append({"role": m["role"], "content": content})
    return out, images


class _JsonDone:
    """Stopping criterion: the generated text has become one complete JSON value."""

    def __init__(self, tokenizer: Any, start: int) -> None:
        self.tokenizer = tokenizer
        self.start = start

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
        text = self.tokenizer.decode(input_ids[0, self.start :], skip_special_tokens=True)
        text = text.strip()
        if not text.endswith(("}", "]")):
            return False
        try:
            json.loads(text, strict=False)  # as the engine parses it
        except ValueError:
            return False
        return True


class TransformersConfig(BackendConfig):
    kind: Literal["transformers"] = "transformers"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: str = Field("float32", description="Weights dtype (a torch dtype's name).")
    max_model_len: int = Field(4096, ge=256, description="Context length.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per annotate actor; 0 runs on CPU.")

    def actor_gpus(self) -> float:
        return self.num_gpus


class TransformersBackend(Backend):
    def __init__(self, cfg: TransformersConfig) -> None:
        self.cfg = cfg
        self.model_id = f"transformers:{Path(cfg.model).name}"
        self.structured = True
        self.vision = cfg.vision
        self._model: Any = None
        self._tok: Any = None
        self._processor: Any = None
        self._parsers: dict[str, Any] = {}

    def setup(self) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise RuntimeError("the transformers backend needs: pip install 'emodata[llm]'") from e
        path = Path(self.cfg.model)
        kw: dict[str, Any] = {}
        if path.suffix == ".gguf":
            kw["gguf_file"] = path.name
            where = str(path.parent)
        else:
            where = model_path(self.cfg.model)
        device = self.cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = device
        dtype = getattr(torch, self.cfg.dtype)
        t0 = time.perf_counter()
        if self.vision:
            self._processor = self._image_processor(where)
            self._tok = self._processor.tokenizer
            from transformers import AutoModelForImageTextToText

            loader: Any = AutoModelForImageTextToText
        else:
            self._tok = AutoTokenizer.from_pretrained(where, **kw)
            loader = AutoModelForCausalLM
        self._model = loader.from_pretrained(where, dtype=dtype, **kw).to(device)
        self._model.eval()
        log.info("transformers: loaded %s on %s in %.1f s", where, device, time.perf_counter() - t0)

    def _image_processor(self, where: str) -> Any:
        from transformers import AutoProcessor

        problem = None
        try:
            processor = AutoProcessor.from_pretrained(where)
        except (OSError, ValueError) as e:
            processor, problem = None, f"{type(e).__name__}: {e}"
        if processor is None or getattr(processor, "image_processor", None) is None:
            raise RuntimeError(
                f"vision is true but {where} has no image processor ({problem or 'text only'}): "
                "point `model` at a vision-language model folder (with preprocessor_config.json) "
                "or set vision: false"
            )
        return processor

    def _prefix_fn(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._parsers:
            from lmformatenforcer import CharacterLevelParserConfig, JsonSchemaParser
            from lmformatenforcer.integrations.transformers import (
                build_transformers_prefix_allowed_tokens_fn,
            )

            parser = JsonSchemaParser(
                schema, CharacterLevelParserConfig(max_consecutive_whitespaces=1)
            )
            self._parsers[key] = (parser, build_transformers_prefix_allowed_tokens_fn)
        parser, build = self._parsers[key]
        return build(self._tok, parser)

    def generate(self, requests: list[Request]) -> list[Response]:
        if self._model is None:
            self.setup()
        return [self._one(r) for r in requests]

    def _one(self, req: Request) -> Response:
        import torch
        from transformers import StoppingCriteriaList

        t0 = time.perf_counter()
        inputs: dict[str, Any] = {}
        n_images = 0
        if self._processor is not None:
            try:
                messages, images = _with_images(req.messages)
            except ValueError as e:
                return Response(req.id, error=str(e))
            text = self._processor.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            inputs = dict(
                self._processor(text=[text], images=images or None, return_tensors="pt").to(
                    self._device
                )
            )
            ids = inputs.pop("input_ids")
            image_id = getattr(self._model.config, "image_token_id", None)
            n_images = int((ids == image_id).sum()) if image_id is not None else 0
        else:
            ids = self._tok.apply_chat_template(
                _text_only(req.messages), add_generation_prompt=True, return_tensors="pt"
            ).to(self._device)
        n_in = int(ids.shape[1])
        limit = int(getattr(self._model.config, "max_position_embeddings", 0) or 0)
        limit = max(limit, self.cfg.max_model_len)
        if n_in + req.max_tokens > limit:
            return Response(
                req.id,
                prompt_tokens=n_in,
                error=f"prompt of {n_in} tokens leaves no room for {req.max_tokens} in the "
                f"model's context of {limit}",
            )
        kw: dict[str, Any] = {
            "max_new_tokens": req.max_tokens,
            "attention_mask": torch.ones_like(ids),
            **inputs,  # the processor's pixel values, image grid and attention mask
            "pad_token_id": self._tok.pad_token_id or self._tok.eos_token_id,
        }
        if req.temperature > 0:
            kw.update(do_sample=True, temperature=req.temperature)
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if req.schema is not None:
            kw["prefix_allowed_tokens_fn"] = self._prefix_fn(req.schema)
            kw["stopping_criteria"] = StoppingCriteriaList([_JsonDone(self._tok, n_in)])
        with torch.inference_mode():
            out = self._model.generate(ids, **kw)
        new = out[0, n_in:]
        return Response(
            req.id,
            text=self._tok.decode(new, skip_special_tokens=True).strip(),
            prompt_tokens=n_in,
            completion_tokens=int(new.shape[0]),
            image_tokens=n_images,
            latency_s=time.perf_counter() - t0,
        )

    def close(self) -> None:
        self._model = None
        self._processor = None
        self._parsers.clear()


def prepare(b: TransformersConfig, ctx: Preparing) -> None:
    """On the driver: the model fetched once, its directory what every actor loads."""
    resolved = resolve_model(b, ctx.where)
    if resolved is not None:
        b.model = resolved


LLM_BACKENDS.register(
    BackendSpec(
        "transformers",
        TransformersConfig,
        TransformersBackend,
        requires=(Requirement("transformers", "llm"), Requirement("lmformatenforcer", "llm")),
        prepare=prepare,
    )
)
