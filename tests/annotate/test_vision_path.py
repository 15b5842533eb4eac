"""Issue 11, section 4: the real vision path carries frames.

Before: the vision path was only exercised against a scripted HTTP server (which checked that
image parts were sent); no model ever received an image. The transformers backend dropped image
parts (text only), and the local vLLM server was started for text models only.

Now a tiny, randomly initialised Qwen2-VL is built locally, and the perceiver runs on frames
sampled by the segment stage from a real face video and the faces stage's aligned face crop,
through (a) a local vLLM server (OpenAI image parts) and (b) the transformers backend, both
with structured output. Its words are noise; what is asserted is that the images reached the
model (image tokens in the prompt, more with more images) and that the answer is schema-valid.
"""

from __future__ import annotations

import io
import json

import jsonschema
import pytest
from PIL import Image

from emodata.annotate import evidence, prompts
from emodata.annotate.backends import Request, make_backend
from emodata.annotate.backends.transformers_backend import TransformersConfig
from emodata.annotate.engine import Annotator, Clip
from emodata.annotate.session import prepare
from emodata.annotate.settings import AgentConfig, AnnotateConfig
from emodata.config import FacesConfig, SegmentConfig
from emodata.llm.vllm_server import VLLMError, VLLMServer
from emodata.models.tiny_vlm import build_tiny_vlm, image_tokens
from emodata.records import Item
from emodata.samples import face_images, talking_clip
from emodata.stages.annotate import _images
from emodata.stages.faces import FacesStage
from emodata.stages.segment import SegmentStage

FRAMES = 3  # annotate.frames_per_clip; the face crop makes one image more
MAX_TOKENS = 256  # the perceiver's budget: room for every key of its (budget-fitted) schema


@pytest.fixture(scope="module")
def vlm():
    return build_tiny_vlm()  # in the models folder, keyed by its recipe: built once


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Clip:
    """Frames sampled by the segment stage from a video of a real face photo, and the faces
    stage's aligned crop of that face: what a run hands the perceiver."""
    tmp = tmp_path_factory.mktemp("vision-clip")
    video = tmp / "face.mp4"
    talking_clip(face_images(tmp)[0], None, video, size="320x240", duration=3.0)
    rec = {"path": str(video), "start_s": 0.0, "end_s": 3.0, "has_audio": False}
    (item,) = SegmentStage(SegmentConfig(frame_rate=1.0)).process([Item("face", rec)])
    faces = FacesStage(FacesConfig())
    faces.setup()
    (item,) = faces.process([item])
    assert any(k.startswith("face") and k.endswith("_0.jpg") for k in item.blobs), item.record
    images = _images(item, FRAMES)
    assert len(images) == FRAMES + 1
    return Clip(item.key, item.record, evidence.build(item.record), images)


def _config(**backend) -> AnnotateConfig:
    return AnnotateConfig(
        backends={"default": {"vision": True, **backend}},
        frames_per_clip=FRAMES,
        agents={"perceiver": AgentConfig(max_tokens=MAX_TOKENS)},
    )


def _perceive(cfg: AnnotateConfig, clip: Clip, backend) -> Clip:
    """One perceiver call through the engine: the messages, schema, parsing and validation a
    run uses."""
    c = Clip(clip.key, clip.record, clip.evidence, list(clip.images))
    engine = Annotator(cfg, {"default": backend}, cache=None)
    call = engine._call(c, "perceiver")
    engine._round([call])
    assert c.error is None, c.error
    jsonschema.validate(c.outputs["perceiver"], call.schema)
    return c


def _sizes(images: list[bytes]) -> list[int]:
    return [image_tokens(*Image.open(io.BytesIO(jpg)).size) for jpg in images]


def _request(clip: Clip, images: list[bytes]) -> Request:
    data = {"cues": clip.evidence.cues}
    message = prompts.data_message(json.loads(json.dumps(data, default=str)), images)
    return Request("r", [{"role": "user", "content": message["content"]}], max_tokens=4)


# vLLM needs torchvision for every vision model; its CUDA wheels bring it, but the CPU build
# in .venv-vllm has none (its CPU wheel is only on PyTorch's own index): a GPU machine runs this
@pytest.mark.slow
@pytest.mark.gpu
def test_vllm_server_sees_the_frames_and_the_face_crop(vlm, clip, tmp_path):
    # as a run does it: no base_url, so the session starts a local vLLM server for the model,
    # sized for frames_per_clip frames and the face crop per request
    cfg = _config(kind="openai", model=str(vlm), timeout_s=120, max_retries=0, concurrency=1)
    with prepare(cfg, str(tmp_path / "out")) as session:
        bcfg = session.config.backends["default"]
        assert bcfg.base_url and not bcfg.serve
        backend = make_backend(bcfg)
        backend.setup()
        try:
            c = _perceive(session.config, clip, backend)
            # the same prompt with no image, one image, every image: the server's prompt
            # token counts grow by each image's tokens and its two vision delimiters
            counts = [
                backend.generate([_request(clip, clip.images[:n])])[0] for n in (0, 1, FRAMES + 1)
            ]
        finally:
            backend.close()
    assert all(r.error is None for r in counts), [r.error for r in counts]
    none, one, every = (r.prompt_tokens for r in counts)
    sizes = _sizes(clip.images)
    assert one - none == sizes[0] + 2 > 2
    assert every - none == sum(sizes) + 2 * len(sizes) > one - none
    assert c.usage["perceiver"]["prompt_tokens"] > sum(sizes)
    print(f"vLLM: image tokens per image {sizes}; prompt tokens {none}/{one}/{every}")


@pytest.mark.slow
def test_transformers_backend_sees_the_frames_and_the_face_crop(vlm, clip):
    cfg = _config(kind="transformers", model=str(vlm), device="cpu")
    backend = make_backend(cfg.backends["default"])
    backend.setup()
    try:
        c = _perceive(cfg, clip, backend)
        one = backend.generate([_request(clip, clip.images[:1])])[0]
    finally:
        backend.close()
    sizes = _sizes(clip.images)
    usage = c.usage["perceiver"]
    assert usage["image_tokens"] == sum(sizes) > one.image_tokens == sizes[0] > 0
    assert usage["prompt_tokens"] > usage["image_tokens"]
    print(f"transformers: image tokens {usage['image_tokens']} of {usage['prompt_tokens']}")


@pytest.mark.slow
def test_a_text_model_with_vision_true_is_refused_with_the_fix():
    from emodata.models.tiny_vlm import TOKENIZER_FROM

    backend = make_backend(TransformersConfig(model=TOKENIZER_FROM, vision=True, device="cpu"))
    with pytest.raises(RuntimeError, match=r"no image processor.*set vision: false"):
        backend.setup()


@pytest.mark.slow
def test_the_tiny_vlm_is_built_once(vlm):
    weights = (vlm / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_vlm() == vlm
    assert (vlm / "model.safetensors").stat().st_mtime_ns == weights
    config = json.loads((vlm / "config.json").read_text())
    assert config["architectures"] == ["Qwen2VLForConditionalGeneration"]


def test_a_vision_server_takes_the_images_of_one_request(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    venv = tmp_path / "venv"
    cmd = VLLMServer(tmp_path, venv=venv, images_per_prompt=FRAMES + 1).command()
    flag = cmd.index("--limit-mm-per-prompt")
    assert json.loads(cmd[flag + 1]) == {"image": FRAMES + 1, "video": 0}
    assert "--limit-mm-per-prompt" not in VLLMServer(tmp_path, venv=venv).command()


def test_a_vllm_env_without_torchvision_is_refused_with_the_fix(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torchvision'\" >&2\nexit 1\n"
    )
    python.chmod(0o755)
    (tmp_path / "config.json").write_text("{}")
    server = VLLMServer(tmp_path, venv=venv, images_per_prompt=2, ready_timeout_s=5)
    with pytest.raises(VLLMError, match=r"needs torchvision[\s\S]*torchvision==0\.28\.0\+cpu"):
        server.start()
    assert server.pid is None  # refused before anything started
