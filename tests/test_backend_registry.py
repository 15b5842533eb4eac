"""Backend registries (ASR, faces, LLM): each kind's config is its own model, a field of another
kind is refused by name, a plugin module adds a kind, and what a missing backend needs is said
with its ``pip install`` line. No model is loaded and nothing reaches the network."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from emodata.annotate.backends import make_backend
from emodata.annotate.session import prepare
from emodata.annotate.settings import LLM_BACKENDS, BackendConfig
from emodata.backends import BackendFamily, BackendSpec
from emodata.config import ASR_BACKENDS, FACE_BACKENDS, RunConfig, TranscribeConfig, load_config
from emodata.errors import ConfigError
from emodata.stages import registry
from emodata.stages.registry import Requirement
from emodata.stages.transcribe import make_backend as make_asr_backend

DEFAULT_YAML = Path(__file__).parent.parent / "pipelines" / "default.yaml"
PLUGIN = "tests.plugin_backends"

#: every setting's default before the backends had a model each (one flat model per section):
#: a kind's model keeps the defaults of the settings it has
FLAT_DEFAULTS = {
    "transcribe": {
        "model": "whisper-base",
        "device": "auto",
        "compute_type": None,
        "num_gpus": 0.0,
        "resources": {},
        "cpus_per_actor": 1.0,
        "actors": 1,
        "threads": 1,
        "batch_size": 4,
        "beam_size": 5,
        "vad": True,
        "language": None,
        "align_model": None,
        "diarize": False,
    },
    "faces": {
        "model_pack": None,
        "det_size": 640,
        "upsample": 1,
        "min_score": 0.3,
        "max_gap": 2,
        "min_track_frames": 1,
        "crops_per_track": 3,
        "resources": {},
        "cpus_per_actor": 1.0,
        "actors": 1,
        "batch_size": 2,
    },
    "annotate": {
        "model": "qwen2.5-coder-0.5b-instruct",
        "base_url": None,
        "api_key_env": "OPENAI_API_KEY",
        "serve": None,
        "concurrency": 8,
        "timeout_s": 300.0,
        "max_retries": 4,
        "backoff_s": 1.0,
        "structured": "auto",
        "vision": False,
        "device": "auto",
        "dtype": "float32",
        "max_model_len": 4096,
        "kv_cache_gib": None,
        "threads": None,
        "batch_size": 16,
        "num_gpus": 0.0,
        "venv": None,
        "image_uri": None,
        "engines": 1,
        "engine_cpus": 0.0,
        "start_timeout_s": 900.0,
        "engine": None,
        "address": None,
    },
}
FAMILIES = {"transcribe": ASR_BACKENDS, "faces": FACE_BACKENDS, "annotate": LLM_BACKENDS}


class NeedsMissingConfig(BackendConfig):
    kind: Literal["needs-missing"] = "needs-missing"


LLM_BACKENDS.register(
    BackendSpec(
        "needs-missing",
        NeedsMissingConfig,
        lambda c: None,
        requires=(Requirement("emodata_no_such_module", "llm"),),
    )
)


def _refused(overrides: dict, path: str | None = None) -> str:
    with pytest.raises(ConfigError) as e:
        load_config(path, overrides)
    return str(e.value)


def test_the_defaults_are_the_default_kinds():
    cfg = load_config()
    assert type(cfg.transcribe).__name__ == "FasterWhisperConfig"
    assert type(cfg.faces).__name__ == "DlibConfig"
    assert type(cfg.annotate.backends["default"]).__name__ == "OpenAIConfig"
    assert cfg.annotate.backends["default"].kind == "openai"


@pytest.mark.parametrize("section", FAMILIES)
def test_each_kind_keeps_the_defaults_of_its_settings(section):
    family = FAMILIES[section]
    for kind in family.kinds():
        if kind in {"needs-missing", "fixed", "silent"}:  # this file's and the plugin's
            continue
        dump = family.get(kind).config().model_dump()
        assert dump.pop(family.key) == kind
        assert dump == {k: FLAT_DEFAULTS[section][k] for k in dump}, kind


@pytest.mark.parametrize(
    ("overrides", "model", "values"),
    [
        ({"transcribe.vad": False}, "FasterWhisperConfig", {"vad": False}),
        (
            {
                "transcribe.backend": "whisperx",
                "transcribe.align_model": "w2v",
                "transcribe.diarize": True,
            },
            "WhisperXConfig",
            {"align_model": "w2v", "diarize": True},
        ),
        ({"faces.upsample": 2}, "DlibConfig", {"upsample": 2}),
        (
            {"faces.backend": "insightface", "faces.model_pack": "/p", "faces.det_size": 320},
            "InsightFaceConfig",
            {"model_pack": "/p", "det_size": 320},
        ),
        (
            {
                "annotate.backends.default.base_url": "http://h/v1",
                "annotate.backends.default.serve": False,
            },
            "OpenAIConfig",
            {"base_url": "http://h/v1", "serve": False},
        ),
        (
            {"annotate.backends.default.kind": "vllm", "annotate.backends.default.engines": 2},
            "VLLMConfig",
            {"engines": 2, "batch_size": 16},
        ),
        (
            {
                "annotate.backends.default.kind": "transformers",
                "annotate.backends.default.device": "cpu",
            },
            "TransformersConfig",
            {"device": "cpu", "num_gpus": 0.0},
        ),
    ],
)
def test_each_builtin_kind_parses_with_its_fields(overrides, model, values):
    cfg = load_config(overrides=overrides)
    section = next(iter(overrides)).split(".")[0]
    got = cfg.section(section)
    if section == "annotate":
        got = got.backends["default"]
    assert type(got).__name__ == model
    assert {k: getattr(got, k) for k in values} == values
    # the dump (manifest, fingerprint) holds the kind's fields and reads back the same
    again = RunConfig.model_validate(cfg.dump())
    assert again.dump() == cfg.dump() and again.fingerprint() == cfg.fingerprint()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"annotate.backends.default.enginez": 2},
            "annotate.backends.default.enginez: not a field of kind openai",
        ),
        ({"transcribe.speed": 2}, "transcribe.speed: not a field of backend faster-whisper"),
        (
            {"annotate.backends.default.base_urll": "x"},
            "annotate.backends.default.base_urll: not a field of kind openai (did you mean "
            "'base_url'?)",
        ),
    ],
)
def test_an_unknown_field_is_refused_with_its_kind(overrides, message):
    assert _refused(overrides) == message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"annotate.backends.default.engines": 2},
            "annotate.backends.default.engines: not a field of kind openai (kind vllm has it)",
        ),
        (
            {"annotate.backends.api.kind": "vllm", "annotate.backends.api.base_url": "http://h"},
            "annotate.backends.api.base_url: not a field of kind vllm (kind openai has it)",
        ),
        (
            {"annotate.backends.default.kind": "openai", "annotate.backends.default.num_gpus": 1},
            "annotate.backends.default.num_gpus: not a field of kind openai (kind transformers, "
            "vllm have it)",
        ),
        (
            {"transcribe.align_model": "w2v"},
            "transcribe.align_model: not a field of backend faster-whisper (backend whisperx "
            "has it)",
        ),
        (
            {"transcribe.backend": "whisperx", "transcribe.vad": False},
            "transcribe.vad: not a field of backend whisperx (backend faster-whisper has it)",
        ),
        (
            {"faces.det_size": 320},
            "faces.det_size: not a field of backend dlib (backend insightface has it)",
        ),
        (
            {"faces.backend": "insightface", "faces.upsample": 2},
            "faces.upsample: not a field of backend insightface (backend dlib has it)",
        ),
    ],
)
def test_a_field_of_another_kind_is_refused(overrides, message):
    assert _refused(overrides) == message


def test_an_unknown_kind_lists_the_known_ones():
    msg = _refused({"annotate.backends.default.kind": "llamafile"})
    assert msg.startswith("annotate.backends.default.kind: unknown kind 'llamafile'; known: ")
    assert "openai, transformers, vllm" in msg and "`plugins`" in msg
    msg = _refused({"transcribe.backend": "whisper.cpp"})
    assert msg.startswith("transcribe.backend: unknown backend 'whisper.cpp'; known: ")


def test_a_flag_switches_backend_over_the_shipped_config():
    """pipelines/default.yaml lists the default backends' own settings: a flag that picks
    another backend leaves those out and keeps the settings both have."""
    cfg = load_config(
        DEFAULT_YAML,
        {
            "transcribe.backend": "whisperx",
            "faces.backend": "insightface",
            "annotate.backends.default.kind": "vllm",
            "annotate.backends.default.max_model_len": 2048,
        },
    )
    assert type(cfg.transcribe).__name__ == "WhisperXConfig"
    assert type(cfg.faces).__name__ == "InsightFaceConfig"
    vllm = cfg.annotate.backends["default"]
    assert vllm.kind == "vllm" and vllm.max_model_len == 2048 and vllm.timeout_s == 300
    # a field of the old kind that the flags set themselves is still refused
    msg = _refused(
        {"annotate.backends.default.kind": "vllm", "annotate.backends.default.serve": True},
        DEFAULT_YAML,
    )
    assert msg == "annotate.backends.default.serve: not a field of kind vllm (kind openai has it)"


def test_a_file_that_mixes_kinds_is_refused(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("annotate:\n  backends:\n    default:\n      kind: openai\n      engines: 2\n")
    assert _refused({}, f) == (
        "annotate.backends.default.engines: not a field of kind openai (kind vllm has it)"
    )


def test_a_plugin_module_adds_kinds_that_parse_and_build():
    if PLUGIN not in sys.modules:  # without its module, the kind is unknown
        assert "unknown kind 'fixed'" in _refused({"annotate.backends.default.kind": "fixed"})
    cfg = load_config(
        overrides={
            "plugins": [PLUGIN],
            "annotate.backends.default.kind": "fixed",
            "annotate.backends.default.reply": '{"ok": true}',
            "transcribe.backend": "silent",
        }
    )
    from tests.plugin_backends import FixedBackend, SilentBackend

    backend = make_backend(cfg.annotate.backends["default"])
    assert isinstance(backend, FixedBackend)
    from emodata.annotate.backends import Request

    (answer,) = backend.generate([Request("r1", [{"role": "user", "content": "hi"}])])
    assert answer.text == '{"ok": true}'
    assert cfg.dump()["annotate"]["backends"]["default"]["reply"] == '{"ok": true}'
    asr = make_asr_backend(cfg.transcribe)
    assert isinstance(asr, SilentBackend)
    import numpy as np

    assert asr.transcribe(np.zeros(16000, np.float32)).speech_ratio == 0.0
    # its fields are checked like a built-in's
    msg = _refused(
        {
            "plugins": [PLUGIN],
            "annotate.backends.default.kind": "fixed",
            "annotate.backends.default.replyy": "x",
        }
    )
    assert (
        msg == "annotate.backends.default.replyy: not a field of kind fixed (did you mean 'reply'?)"
    )


def test_a_plugin_kind_goes_through_the_drivers_preparation(tmp_path):
    cfg = load_config(overrides={"plugins": [PLUGIN], "annotate.backends.default.kind": "fixed"})
    with prepare(cfg.annotate, str(tmp_path)) as session:
        assert type(session.config.backends["default"]).__name__ == "FixedConfig"
        assert session.engines == {}


def test_a_missing_module_is_named_with_its_extra(tmp_path, monkeypatch):
    cfg = load_config(overrides={"annotate.backends.default.kind": "needs-missing"})
    want = (
        "annotate.backends.default: kind needs-missing needs emodata_no_such_module: "
        "pip install 'emodata[llm]'"
    )
    with pytest.raises(ConfigError) as e:
        LLM_BACKENDS.check(cfg.annotate.backends["default"], "annotate.backends.default")
    assert str(e.value) == want
    with pytest.raises(ConfigError) as e, prepare(cfg.annotate, str(tmp_path)):
        pass
    assert str(e.value) == want
    # a built-in's, through its stage's checks before any work
    monkeypatch.setitem(sys.modules, "whisperx", None)  # as if the extra were not installed
    cfg = load_config(overrides={"transcribe.backend": "whisperx"})
    with pytest.raises(ConfigError) as e:
        registry.get("transcribe").preflight(cfg)
    assert (
        str(e.value)
        == "transcribe: backend whisperx needs whisperx: pip install 'emodata[whisperx]'"
    )


def test_a_config_of_the_base_reads_as_its_kind():
    """``TranscribeConfig(backend=...)`` has no field of the kind's own: it is that kind with
    their defaults, for the validator and the factory alike."""
    got = ASR_BACKENDS.parse(TranscribeConfig(backend="whisperx", model="whisper-tiny.en"))
    assert type(got).__name__ == "WhisperXConfig" and got.model == "whisper-tiny.en"
    assert got.align_model is None
    faces = FACE_BACKENDS.build(FACE_BACKENDS.base(min_score=0.5))
    assert type(faces).__name__ == "DlibBackend" and faces.min_score == 0.5


def test_builtin_factories_make_their_backends_without_loading():
    from emodata.config import load_config as load

    cfg = load(overrides={"faces.backend": "insightface", "faces.model_pack": "/pack"})
    faces = FACE_BACKENDS.build(cfg.faces)
    assert type(faces).__name__ == "InsightFaceBackend" and faces.pack_dir == "/pack"
    for kind, name in (
        ("openai", "OpenAIBackend"),
        ("vllm", "VLLMBackend"),
        ("transformers", "TransformersBackend"),
    ):
        backend = make_backend(LLM_BACKENDS.parse({"kind": kind}))
        assert type(backend).__name__ == name


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = "a"


class _A(_Base):
    kind: Literal["a"] = "a"
    x: int = 1


class _Loose(BaseModel):
    kind: Literal["b"] = "b"


def test_registering_checks_the_declaration():
    family = BackendFamily("test", _Base, key="kind", default="a", builtins=())
    family.register(BackendSpec("a", _A, _A))
    family.register(BackendSpec("a", _A, _A))  # a module imported again
    with pytest.raises(ConfigError, match="registered twice"):
        family.register(BackendSpec("a", _A, lambda c: c))
    with pytest.raises(ConfigError, match="must subclass _Base"):
        family.register(BackendSpec("b", _Loose, _Loose))
    with pytest.raises(ConfigError, match="`kind` must default to 'c'"):
        family.register(BackendSpec("c", _A, _A))
    assert family.kinds() == ["a"]
    assert family.parse(None) == _A()
    with pytest.raises(ValidationError) as e:
        family.parse({"x": "one"})
    assert e.value.errors()[0]["loc"] == ("x",)
