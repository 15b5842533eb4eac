"""GGUF -> Hugging Face conversion: the registry's derived models, and the real SmolLM2 folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from emodata.annotate.settings import AnnotateConfig
from emodata.llm.convert import INFO, OUTPUTS, greedy_reply, looks_like_english
from emodata.models import registry as reg

from .conftest import MODEL


def test_english_check_tells_words_from_noise():
    assert looks_like_english("The capital of France is Paris.")
    assert looks_like_english("I think the speaker is happy about the news.")
    assert not looks_like_english("")
    assert not looks_like_english("ĠĠ<0x0A>ĊĊ ¿¿¿ ţţ")
    assert not looks_like_english("xq zzkv wpt rrrm gh")
    assert not looks_like_english("的的的 是是 了了了 在在")


def test_shipped_registry_declares_the_derived_model():
    r = reg.Registry.default()
    spec = r.get(MODEL)
    assert spec.convert is not None and spec.files == {} and spec.sources == []
    source = r.get(spec.convert["from"])
    assert spec.convert["input"] in source.files
    assert set(spec.convert["outputs"]) <= set(OUTPUTS) | {"chat_template.jinja"}
    assert spec.convert["with"] == "emodata.llm.convert:gguf_to_hf"
    assert MODEL in r.profile("test")  # the tests' plumbing model
    # the demo pulls the default annotate model, itself converted the same way
    default = AnnotateConfig().backends["default"].model
    assert default in r.profile("demo") and r.get(default).convert is not None
    for other in r.models.values():
        if other.convert is not None:
            assert other.convert["from"] in r.models
            assert other.convert["input"] in r.get(other.convert["from"]).files


# A stand-in converter for the registry mechanics, so they are tested in milliseconds.
CALLS: list[tuple[Path, Path]] = []
FAIL = False


def fake_convert(src: Path, out: Path) -> Path:
    CALLS.append((src, out))
    if FAIL:
        raise RuntimeError("boom")
    out.mkdir(parents=True, exist_ok=True)
    (out / "weights.txt").write_text(src.read_text() * 2)
    return out


@pytest.fixture
def derived(monkeypatch, tmp_path):
    root = tmp_path / "models"
    base = root / "base"
    base.mkdir(parents=True)
    (base / "w.bin").write_text("ab")
    spec = {
        "models": {
            "base": {
                "kind": "t",
                "task": "t",
                "license": "MIT",
                "description": "t",
                "files": {"w.bin": reg._sha256(base / "w.bin")},
                "sources": [],
            },
            "derived": {
                "kind": "t",
                "task": "t",
                "license": "MIT",
                "description": "t",
                "files": {},
                "sources": [],
                "convert": {
                    "from": "base",
                    "input": "w.bin",
                    "with": f"{__name__}:fake_convert",
                    "outputs": ["weights.txt"],
                },
            },
        }
    }
    monkeypatch.setattr(reg.Registry, "default", classmethod(lambda cls: reg.Registry(spec)))
    monkeypatch.setenv("EMODATA_MODELS", str(root))
    reg.verify_in_place("base")
    CALLS.clear()
    return spec, root


def test_derived_model_is_converted_once_and_marked(derived):
    spec, root = derived
    with pytest.raises(reg.ModelError, match="emodata models pull derived"):
        reg.resolve("derived", fetch=False)
    path = reg.resolve("derived")
    assert path == root / "derived" and (path / "weights.txt").read_text() == "abab"
    assert len(CALLS) == 1 and CALLS[0] == (root / "base" / "w.bin", path)
    marker = json.loads((path / ".emodata-complete.json").read_text())
    assert marker["convert"] == spec["models"]["derived"]["convert"]
    assert marker["source"].startswith("converted from base")
    assert reg.resolve("derived") == path and len(CALLS) == 1  # idempotent
    assert reg.resolve("derived", fetch=False) == path
    with pytest.raises(reg.ModelError, match="not placed by hand"):
        reg.verify_in_place("derived")


def test_changed_recipe_or_missing_output_converts_again(derived, monkeypatch):
    spec, _ = derived
    path = reg.resolve("derived")
    (path / "weights.txt").unlink()
    assert reg.resolve("derived") == path and len(CALLS) == 2
    spec["models"]["derived"]["convert"]["outputs"] = ["weights.txt", "more.txt"]
    with pytest.raises(reg.ModelError, match=r"wrote no more\.txt"):
        reg.resolve("derived")
    spec["models"]["derived"]["convert"]["outputs"] = ["weights.txt"]
    monkeypatch.setattr(sys.modules[__name__], "FAIL", True)
    with pytest.raises(reg.ModelError, match="fake_convert failed: RuntimeError: boom"):
        reg.resolve("derived")


@pytest.mark.slow
def test_pulled_smollm2_loads_in_transformers_and_answers_in_english(smollm2_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert all((smollm2_dir / f).is_file() for f in OUTPUTS)
    info = json.loads((smollm2_dir / INFO).read_text())
    assert info["dtype"] == "float32" and info["gguf_sha256"]
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    assert model.dtype == torch.float32
    # tied embeddings: the GGUF has no output.weight, so lm_head must be the embedding matrix
    assert model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    assert tok.eos_token == "<|im_end|>" and tok.chat_template
    assert tok("hello").input_ids == [tok.convert_tokens_to_ids("hello")]  # no stray BOS
    reply = greedy_reply(smollm2_dir)
    assert looks_like_english(reply), reply
    assert "Paris" in reply, reply
