"""The run configuration: one typed tree, read from YAML, overridden by flags.

Every section is a pydantic model with ``extra="forbid"`` so a typo in a config file is an
error that names the field (``segment.max_clip_s: ...``) rather than a silently ignored key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from emodata.annotate.settings import LLM_BACKENDS, AnnotateConfig
from emodata.backends import BackendFamily
from emodata.errors import ConfigError

log = logging.getLogger(__name__)

KNOWN_STAGES = (
    "ingest",
    "segment",
    "transcribe",
    "faces",
    "cues",
    "annotate",
    "write",
    "validate",
)
VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".mpg",
    ".mpeg",
    ".ts",
    ".flv",
    ".wmv",
    ".3gp",
)
AUDIO_EXTENSIONS = (".m4a", ".wav", ".mp3", ".flac", ".ogg", ".opus", ".aac", ".wma")

#: x264's presets, the only values ``segment.preset`` may pass to FFmpeg's ``-preset``.
X264Preset = Literal[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
]
#: CTranslate2's compute types (faster-whisper, whisperx).
ComputeType = Literal[
    "default",
    "auto",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RayConfig(_Section):
    address: str | None = Field(None, description="Cluster address; None starts Ray locally.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs for a local Ray; None uses all.")
    include_dashboard: bool = False
    preserve_order: bool = Field(True, description="Deterministic sample order in the shards.")


class IngestConfig(_Section):
    extensions: list[str] = Field(default_factory=lambda: list(VIDEO_EXTENSIONS))
    #: audio-only media found in a folder: ingested and ledgered as audio_only, never dropped
    audio_extensions: list[str] = Field(default_factory=lambda: list(AUDIO_EXTENSIONS))
    min_duration_s: float = Field(0.5, ge=0)
    max_duration_s: float = Field(4 * 3600, gt=0)
    require_audio: bool = False
    probe_timeout_s: float = Field(60, gt=0)
    label_map: str | None = Field(
        None,
        description="The manifest's label column in another taxonomy: a map into "
        "annotate.taxonomy (merr9, meld, cremad or a JSON file; see emodata.manifest_labels).",
    )
    #: seconds a remote input (https://, s3://) may stay silent while connecting or sending
    remote_timeout_s: float = Field(30, gt=0)
    #: a run with at most this many inputs (on a local Ray) hashes, probes and plans scene cuts
    #: on the driver while Ray starts: a small run's fixed cost; without a model stage it
    #: encodes there too and does not start Ray. 0: always on Ray.
    local_max_inputs: int = Field(64, ge=0)
    window: int = Field(
        10000,
        ge=1,
        description="Inputs the driver takes at a time through ingest, dedup, scene planning "
        "and processing: its memory follows this, not the input count (model actors start "
        "again for each window, so keep it in the thousands).",
    )

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, exts: list[str]) -> list[str]:
        bad = [e for e in exts if not re.fullmatch(r"\.[A-Za-z0-9]{1,10}", e)]
        if bad:
            raise ValueError(f"{bad}: an extension is a dot and 1-10 letters or digits (.mp4)")
        return exts

    @model_validator(mode="after")
    def _bounds(self) -> IngestConfig:
        if self.min_duration_s >= self.max_duration_s:
            raise ValueError("min_duration_s must be below max_duration_s")
        return self


class SegmentConfig(_Section):
    scene_threshold: float = Field(0.3, gt=0, le=1, description="FFmpeg scene score for a cut.")
    min_clip_s: float = Field(1.0, gt=0)
    max_clip_s: float = Field(20.0, gt=0)
    short_side: int = Field(360, ge=32, le=4320)
    fps: float = Field(25.0, gt=0, le=120)
    frame_rate: float = Field(1.0, gt=0, le=30, description="Sampled frames per second.")
    crf: int = Field(23, ge=0, le=51)
    preset: X264Preset = Field("veryfast", description="x264 preset (ultrafast..placebo).")
    audio_rate: int = Field(16000, ge=8000)
    threads: int = Field(1, ge=1, description="FFmpeg encoder threads per task.")
    #: one decoder thread per task: every core already runs a task of its own, and FFmpeg's
    #: own choice (frame threads on every core) spent a sixth more CPU on the same clips
    decode_threads: int = Field(
        1, ge=0, description="FFmpeg decoder threads per task (0: FFmpeg's choice)."
    )
    cpus_per_task: float = Field(1.0, gt=0)
    timeout_s: float = Field(600, gt=0)
    #: most seconds a clip's MP4 video or WAV may differ from the clip's length: a frame at 25 fps
    #: is 0.04 s, so 0.1 s passes frame rounding and catches lost stretches of a source
    max_duration_gap_s: float = Field(0.1, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> SegmentConfig:
        if self.min_clip_s > self.max_clip_s:
            raise ValueError("min_clip_s must not exceed max_clip_s")
        return self


class TranscribeConfig(_Section):
    """The ``transcribe:`` section: what every ASR backend reads. Each backend's model (in
    ``ASR_BACKENDS``) adds its own fields: ``vad`` (faster-whisper), ``align_model`` and
    ``diarize`` (whisperx)."""

    backend: str = Field(
        "faster-whisper", description="ASR backend: faster-whisper, whisperx or a plugin's."
    )
    model: str = Field("whisper-base", description="Registry name or a model directory.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: ComputeType | None = Field(
        None, description="None: int8 on CPU, float16 on CUDA."
    )
    num_gpus: float = Field(0.0, ge=0, description="GPUs per actor; > 0 runs on CUDA.")
    resources: dict[str, float] = Field(
        default_factory=dict, description="Custom Ray resources per actor (node placement)."
    )
    cpus_per_actor: float = Field(1.0, gt=0)
    actors: int = Field(1, ge=1, description="Most transcriber actors (models loaded).")
    threads: int = Field(1, ge=1, description="CPU threads per model.")
    batch_size: int = Field(4, ge=1)
    beam_size: int = Field(5, ge=1)
    language: str | None = Field(
        None, pattern=r"^[a-z]{2,3}$", description="None detects the language per clip."
    )

    def on_cuda(self) -> bool:
        return self.device == "cuda" or (self.device == "auto" and self.num_gpus > 0)

    def resolved_compute_type(self) -> str:
        return self.compute_type or ("float16" if self.on_cuda() else "int8")


class FacesConfig(_Section):
    """The ``faces:`` section: what every face backend's stage reads. Each backend's model (in
    ``FACE_BACKENDS``) adds its own fields: ``upsample`` (dlib), ``model_pack`` and
    ``det_size`` (insightface)."""

    backend: str = Field("dlib", description="Face backend: dlib, insightface or a plugin's.")
    min_score: float = Field(0.3, description="Detections below this score are dropped.")
    max_gap: int = Field(2, ge=0, description="Frames a track may miss and still continue.")
    min_track_frames: int = Field(1, ge=1)
    crops_per_track: int = Field(3, ge=1, description="Aligned crops kept per track.")
    resources: dict[str, float] = Field(
        default_factory=dict, description="Custom Ray resources per actor (node placement)."
    )
    cpus_per_actor: float = Field(1.0, gt=0)
    actors: int = Field(1, ge=1)
    batch_size: int = Field(2, ge=1)


ASR_BACKENDS = BackendFamily(
    "ASR",
    TranscribeConfig,
    key="backend",
    default="faster-whisper",
    builtins=("emodata.asr.faster_whisper_backend", "emodata.asr.whisperx_backend"),
)
FACE_BACKENDS = BackendFamily(
    "face",
    FacesConfig,
    key="backend",
    default="dlib",
    builtins=("emodata.faces.dlib_backend", "emodata.faces.insightface_backend"),
)
#: the ``transcribe`` and ``faces`` sections, validated by the model of the backend they name
TranscribeSection = ASR_BACKENDS.section
FacesSection = FACE_BACKENDS.section


class CuesConfig(_Section):
    age_gender: bool = Field(
        True, description="Apparent age and gender presentation per face track (needs dlib)."
    )
    word_lexicon: str | None = Field(
        "nrc-emotion-lexicon",
        description="Registry model of the word-emotion lexicon (NRC: research and "
        "non-commercial use); null keeps VADER valence only.",
    )
    conflict_min_level: float = Field(
        0.2, ge=0, le=1, description="A modality's valence/arousal must be this far from 0."
    )
    conflict_min_gap: float = Field(
        0.5, ge=0, le=2, description="Two modalities conflict when this far apart (and opposite)."
    )
    resources: dict[str, float] = Field(
        default_factory=dict, description="Custom Ray resources per actor (node placement)."
    )
    cpus_per_actor: float = Field(1.0, gt=0)
    actors: int = Field(1, ge=1)
    batch_size: int = Field(2, ge=1)


class WriteConfig(_Section):
    max_shard_bytes: int = Field(256 * 1024 * 1024, ge=1024 * 1024)
    max_shard_samples: int = Field(2000, ge=1)
    include_frames: bool = True
    samples_per_task: int = Field(
        256,
        ge=1,
        description="Clips one write task packs (into one shard or more): a shard holds at most "
        "one task's clips, and a task holds them in memory while it writes.",
    )
    cpus_per_task: float = Field(0.5, gt=0, description="CPUs a write task asks Ray for.")


class ValidateConfig(_Section):
    suites_dir: str | None = Field(None, description="Extra expectation suites (JSON files).")
    stop_on_batch_failure: bool = True


class RunConfig(_Section):
    input: str | None = None
    output: str | None = None
    plugins: list[str] = Field(
        default_factory=list,
        description="Modules to import before the config is read: each registers its stages "
        "(docs/extending.md).",
    )
    stages: list[str] = Field(default_factory=lambda: list(KNOWN_STAGES))
    ray: RayConfig = Field(default_factory=RayConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    segment: SegmentConfig = Field(default_factory=SegmentConfig)
    transcribe: TranscribeSection = Field(default_factory=ASR_BACKENDS.default)
    faces: FacesSection = Field(default_factory=FACE_BACKENDS.default)
    cues: CuesConfig = Field(default_factory=CuesConfig)
    annotate: AnnotateConfig = Field(default_factory=AnnotateConfig)
    write: WriteConfig = Field(default_factory=WriteConfig)
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")

    # other top-level keys are the sections of plugin stages, checked against their own models
    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=True)

    @field_validator("plugins")
    @classmethod
    def _import_plugins(cls, plugins: list[str]) -> list[str]:
        from emodata.stages import registry

        registry.import_plugins(plugins)  # fields validate in order: before ``stages``
        return plugins

    @field_validator("stages")
    @classmethod
    def _known(cls, stages: list[str]) -> list[str]:
        from emodata.stages import registry

        known = list(dict.fromkeys([*KNOWN_STAGES, *registry.names()]))
        unknown = [s for s in stages if s not in known]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; known: {known}")
        return stages

    @model_validator(mode="after")
    def _plugin_sections(self) -> RunConfig:
        from emodata.stages import registry

        sections = registry.plugin_sections()
        extra = self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}
        for key, value in list(extra.items()):
            model = sections.get(key)
            if model is None:
                known = [*type(self).model_fields, "validate", *sections]
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(
                    f"{key}: unknown section ({hint}a plugin stage's section needs its module "
                    "in `plugins`)"
                )
            if not isinstance(value, model):
                try:
                    extra[key] = model.model_validate(value or {})
                except ValidationError as e:
                    raise ValueError(
                        "; ".join(f"{key}.{m}" for m in _format(e).split("; "))
                    ) from None
        for name, model in sections.items():
            if name in self.stages and name not in extra:
                extra[name] = model()
        return self

    def section(self, name: str) -> Any:
        """A stage's config section (built-in or a plugin's), or None when it has none."""
        return getattr(self, name if name != "validate" else "validate_", None)

    @model_validator(mode="after")
    def _stages(self) -> RunConfig:
        if "segment" in self.stages and "write" not in self.stages:
            raise ValueError("'segment' needs 'write' to keep its output")
        if "ingest" not in self.stages:
            raise ValueError("'ingest' is required: every run starts by finding its inputs")
        if self.ingest.min_duration_s > self.segment.max_clip_s:
            raise ValueError("ingest.min_duration_s must not exceed segment.max_clip_s")
        return self

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self) -> str:
        """Hash of the settings that change outputs (not where they go)."""
        body = {k: v for k, v in self.dump().items() if k not in {"input", "output", "ray"}}
        body["ingest"].pop("window", None)  # how the driver walks the inputs, not what it makes
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _format(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        where = ".".join(str(p) for p in e["loc"])
        if not where and re.match(r"^[a-z_][\w.]*: ", msg):  # it names its section itself
            lines.append(msg)
            continue
        lines.append(f"{(where or 'config').replace('validate_', 'validate')}: {msg}")
    return "; ".join(lines)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: '{part}' is not a section")
    node[parts[-1]] = value


#: where a section names its backend ("*": any backend name), and the family it is from
_BACKEND_KEYS: tuple[tuple[tuple[str, ...], BackendFamily], ...] = (
    (("transcribe", "backend"), ASR_BACKENDS),
    (("faces", "backend"), FACE_BACKENDS),
    (("annotate", "backends", "*", "kind"), LLM_BACKENDS),
)


def _matches(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    return len(pattern) == len(parts) and all(
        a in ("*", b) for a, b in zip(pattern, parts, strict=True)
    )


def _switch_backends(tree: dict[str, Any], overrides: dict[str, Any]) -> None:
    """A flag that picks another backend than the config file does (``--set
    faces.backend=insightface`` over pipelines/default.yaml, which lists dlib's settings): the
    file's settings that only the file's backend has are left out, rather than refused as
    fields the chosen backend does not have. Settings both have carry over."""
    for dotted, kind in overrides.items():
        parts = tuple(dotted.split("."))
        family = next((f for pattern, f in _BACKEND_KEYS if _matches(pattern, parts)), None)
        node: Any = tree
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if family is None or not isinstance(kind, str) or not isinstance(node, dict):
            continue
        dropped = family.switch(node, kind)
        if dropped:
            log.info("%s=%s: the file's %s left out", dotted, kind, ", ".join(dropped))


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Read a YAML config (or the embedded defaults) and apply dotted-key overrides."""
    tree: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections")
        tree = loaded or {}
    _switch_backends(tree, overrides or {})
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(tree, key, value)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(_format(e)) from None


def parse_override(text: str) -> tuple[str, Any]:
    """``segment.max_clip_s=12`` -> ("segment.max_clip_s", 12); values are YAML scalars."""
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)
