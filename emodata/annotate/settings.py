"""Typed settings of the annotate stage (the ``annotate:`` section of a run config).

Backends are named so several agents can share one model, or each use its own; every agent
names its backend, prompt file and prompt version, which all go into the cache key and the
sample's provenance.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emodata.backends import BackendFamily

AGENTS = ("perceiver", "listener", "reasoner", "critic", "qa")

#: The 7 basic expressions plus neutral, each with the valence range it is consistent with.
DEFAULT_TAXONOMY: dict[str, tuple[float, float]] = {
    "happy": (0.05, 1.0),
    "sad": (-1.0, -0.05),
    "angry": (-1.0, -0.05),
    "fear": (-1.0, -0.05),
    "disgust": (-1.0, -0.05),
    "surprise": (-1.0, 1.0),
    "contempt": (-1.0, 0.0),
    "neutral": (-0.5, 0.5),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BackendConfig(_Section):
    """What every annotate backend's settings have. Each kind's model (in ``LLM_BACKENDS``:
    openai, vllm, transformers, or a plugin's) adds its own fields; a field of another kind is
    an error that names the kind."""

    kind: str = Field(
        "openai", description="The backend: openai, vllm, transformers or a plugin's."
    )
    model: str = Field(
        "qwen2.5-coder-0.5b-instruct",
        description="Registry name or model directory; for openai, the served model name.",
    )
    vision: bool = Field(False, description="The model takes images (frames, face crops).")

    def actor_gpus(self) -> float:
        """GPUs each annotate actor takes for this backend: none when the model runs elsewhere."""
        return 0.0


class LocalVLLMConfig(BackendConfig):
    """Settings of a vLLM the run starts itself: the openai backend's local server (``serve``)
    and the vllm backend's engine actors."""

    dtype: str = Field("float32", description="Weights dtype (float32 on CPU, bfloat16 on GPU).")
    max_model_len: int = Field(4096, ge=256, description="Context length (vLLM KV cache).")
    kv_cache_gib: float | None = Field(
        None,
        gt=0,
        description="On CPU: the engine's KV cache; None sizes it from the model's config for "
        "`concurrency` (serve) or `batch_size` (vllm) requests of up to 3072 tokens (too small a "
        "cache makes vLLM preempt and recompute whole prompts).",
    )
    threads: int | None = Field(
        None, ge=1, description="On CPU: cores the engine computes on; None uses every core."
    )
    venv: str | None = Field(
        None,
        description="The vLLM environment (default $EMODATA_VLLM_VENV or .venv-vllm); on a "
        "cluster, the same path on every node.",
    )


#: The annotate backends by kind; the built-in ones register in their own modules.
LLM_BACKENDS = BackendFamily(
    "LLM",
    BackendConfig,
    key="kind",
    default="openai",
    builtins=(
        "emodata.annotate.backends.openai_backend",
        "emodata.annotate.backends.vllm_backend",
        "emodata.annotate.backends.transformers_backend",
    ),
)
#: an ``annotate.backends`` entry, validated by the model of the kind it names
BackendSection = LLM_BACKENDS.section


class AgentConfig(_Section):
    enabled: bool = True
    backend: str = "default"
    prompt: str | None = Field(None, description="Prompt file; None uses the packaged one.")
    prompt_version: str = "v1"
    max_tokens: int = Field(320, ge=16)
    temperature: float = Field(0.0, ge=0, le=2)


class Price(_Section):
    prompt_per_mtok: float = Field(0.0, ge=0, description="USD per million prompt tokens.")
    completion_per_mtok: float = Field(0.0, ge=0, description="USD per million output tokens.")


def _agents() -> dict[str, AgentConfig]:
    return {
        "perceiver": AgentConfig(max_tokens=640),
        "listener": AgentConfig(max_tokens=320),
        "reasoner": AgentConfig(max_tokens=960),
        "critic": AgentConfig(max_tokens=160),
        "qa": AgentConfig(max_tokens=560),
    }


class TreeLimits(_Section):
    """Sizes of what the agents may write, put into their output schemas.

    The defaults are sized for models that write well (Emo-CFG-style fine-grained captions of
    40-150 words); a small model's failure modes (loops, empty strings) are the critic's job,
    not a reason to make every caption short.
    """

    caption_words: tuple[int, int] = Field(
        (40, 150), description="Caption length in words, asked in the prompt (min, max)."
    )
    chars_per_word: int = Field(
        8, ge=4, description="Schema maxLength of a caption = max words x this."
    )
    description_chars: int = Field(240, ge=16, description="One expression's description.")
    claim_chars: int = Field(300, ge=16, description="One rationale step.")
    max_expressions: int = Field(6, ge=0, description="Expressions per tree (and per note).")
    max_steps: int = Field(6, ge=1, description="Rationale steps.")
    max_cues: int = Field(6, ge=1, description="Cue ids cited by one step or expression.")
    max_terms: int = Field(5, ge=0, description="Open-vocabulary emotion terms.")
    qa_pairs: tuple[int, int] = Field((4, 8), description="QA pairs per clip (min, max).")
    question_chars: int = Field(200, ge=16)
    answer_chars: int = Field(600, ge=16)
    text_chars: int = Field(400, ge=16, description="Appearance, context, scene, conflict.")

    @model_validator(mode="after")
    def _check(self) -> TreeLimits:
        for name in ("caption_words", "qa_pairs"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi or hi < 1:
                raise ValueError(f"limits.{name}: need 0 <= min <= max, max >= 1")
        return self


class AnnotateConfig(_Section):
    backends: dict[str, BackendSection] = Field(
        default_factory=lambda: {"default": LLM_BACKENDS.default()}
    )
    agents: dict[str, AgentConfig] = Field(default_factory=_agents)
    taxonomy: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: dict(DEFAULT_TAXONOMY),
        description="Emotion labels and the valence range each is consistent with.",
    )
    max_revisions: int = Field(1, ge=0, description="Times the critic may send the tree back.")
    critic_llm: bool = Field(True, description="LLM review after the deterministic checks.")
    repair_retries: int = Field(1, ge=0, description="Re-asks after output that fails its schema.")
    cache_dir: str | None = Field(None, description="Response cache; None: DIR/_state/llm_cache.")
    prices: dict[str, Price] = Field(
        default_factory=dict, description="Per model id: USD per million tokens."
    )
    frames_per_clip: int = Field(3, ge=0, description="Images sent to vision backends.")
    silence_ratio: float = Field(0.05, ge=0, le=1, description="Below this speech ratio: silent.")
    min_claimed_score: float = Field(
        0.2, ge=0, le=1, description="A claimed expression needs at least this measured score."
    )
    limits: TreeLimits = Field(default_factory=TreeLimits)
    texts: Literal["model", "rendered"] = Field(
        "model",
        description="Who writes the tree's texts: 'model' (the reasoner writes the rationale, "
        "expressions, conflict and caption, the qa agent the QA) or 'rendered' (the reasoner "
        "only chooses the emotion; the texts are written from the measurements and that "
        "choice, for models too small to write).",
    )
    neutral_label: str = Field(
        "neutral", description="The taxonomy's no-emotion label (clips with no face, no speech)."
    )
    no_evidence_valence: float = Field(
        0.3, ge=0, le=1, description="No face and no speech: |valence| at most this."
    )
    no_evidence_confidence: float = Field(
        0.4, ge=0, le=1, description="No face and no speech: confidence at most this."
    )
    actors: int = Field(1, ge=1)
    cpus_per_actor: float = Field(1.0, gt=0)
    batch_size: int = Field(8, ge=1, description="Clips annotated together (one agent round).")
    resources: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _keep_default_backend(cls, data: Any) -> Any:
        """Naming another backend adds to ``default``; it does not replace it."""
        if isinstance(data, dict) and isinstance(data.get("backends"), dict):
            data = {**data, "backends": {"default": {}, **data["backends"]}}
        return data

    @model_validator(mode="after")
    def _check(self) -> AnnotateConfig:
        unknown = sorted(set(self.agents) - set(AGENTS))
        if unknown:
            raise ValueError(f"unknown agent(s) {unknown}; known: {list(AGENTS)}")
        for name in AGENTS:
            self.agents.setdefault(name, _agents()[name])
        for name, agent in self.agents.items():
            if agent.enabled and agent.backend not in self.backends:
                raise ValueError(
                    f"agents.{name}.backend: '{agent.backend}' is not in backends "
                    f"({sorted(self.backends)})"
                )
        if not self.agents["reasoner"].enabled:
            raise ValueError("agents.reasoner: the reasoner builds the tree and cannot be off")
        for label, (lo, hi) in self.taxonomy.items():
            if not -1 <= lo <= hi <= 1:
                raise ValueError(f"taxonomy.{label}: valence range must lie in [-1, 1], low first")
        if self.neutral_label not in self.taxonomy:
            raise ValueError(f"neutral_label: '{self.neutral_label}' is not in the taxonomy")
        return self

    def backend_for(self, agent: str) -> BackendConfig:
        return self.backends[self.agents[agent].backend]
