"""The affective tree as the record carries it: ``ClipRecord.annotation``.

The agents and the critic work on the tree as JSON (what a model emits and a schema checks);
the annotate stage turns the finished tree into an :class:`Annotation`, and every reader after
it (exports, review, benchmarks) uses its fields. Each class is a
:class:`~emodata.document.Document`: ``to_dict`` gives back exactly the document of
``schemas/annotation.schema.json`` that sample JSONs hold: keys the schema requires are always
written, the optional ones (``conflict``, an attribute's ``cues``, the critic's ``checks``,
``requests`` and ``check_runs``) only when set, so a tree from a run before they existed reads
back and writes out as it was, and its index columns stay null. ``from_dict`` leaves out keys it
does not know (a newer writer's) and fills missing or null ones with defaults; text reads as
text and numbers as written (an int start stays an int).

Maps keyed by open-ended names stay dicts: the cue catalog (cue id -> ``{text, value}``),
``sources`` (tree field -> measured, model or rendered), the critic's runs per check and the
provenance per agent (its keys grow with what a backend reports).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emodata.document import NOT_NULL, OPTIONAL, Document


@dataclass
class Attribute(Document):
    """One subject (a face track id, or ``scene``): age and gender from the networks,
    appearance and context from a model that saw the frames."""

    subject: str = ""
    age_range: str = ""
    gender_presentation: str = ""
    appearance: str = ""
    context: str = ""
    #: the measured cues the values come from; None when the tree did not say (older runs)
    cues: list[str] | None = field(default=None, metadata=OPTIONAL)


@dataclass
class Expression(Document):
    """A facial, vocal or bodily expression over a span of the clip, with the cues behind it."""

    modality: str = ""  # facial, vocal or bodily
    track: str | None = None  # the face track of a facial expression ("" or null otherwise)
    description: str = ""
    start_s: float = field(default=0.0, metadata=NOT_NULL)
    end_s: float = field(default=0.0, metadata=NOT_NULL)
    cues: list[str] = field(default_factory=list)


@dataclass
class Emotion(Document):
    """The clip's label from the taxonomy, open-vocabulary terms, valence and arousal in
    [-1, 1] and the model's confidence in [0, 1] (None where a tree lacks a number)."""

    label: str = ""
    terms: list[str] = field(default_factory=list)
    valence: float | None = None
    arousal: float | None = None
    confidence: float | None = None


@dataclass
class RationaleStep(Document):
    """One claim of the reasoning and the cue ids it rests on."""

    claim: str = ""
    cues: list[str] = field(default_factory=list)


@dataclass
class QAPair(Document):
    """An instruction pair of one of Emo-CFG's kinds: attribute, expression, emotion or
    reasoning."""

    kind: str = ""
    question: str = ""
    answer: str = ""


@dataclass
class Check(Document):
    """One deterministic critic check on one round: its id, whether it held, and on failure
    what was wrong and the claim it failed on."""

    name: str
    ok: bool
    detail: str = ""
    claim: str = ""

    as_dict = Document.to_dict

    def reason(self) -> str:
        """``check_id: detail [claim: ...]``, as sent back to the reasoner and recorded."""
        claim = f" [claim: {self.claim[:120]}]" if self.claim else ""
        return f"{self.name}: {self.detail}{claim}"


@dataclass
class CriticResult(Document):
    """What the critic decided: the verdict, why a tree was rejected, how often it was sent
    back and with which requests, and its checks (the last round's, and per check the
    ``[evaluations, failures]`` over all rounds). The last three are None in trees of runs
    that did not record them."""

    verdict: str = ""  # accepted, revised or rejected
    reasons: list[str] = field(default_factory=list)
    revisions: int = field(default=0, metadata=NOT_NULL)
    requests: list[str] | None = field(default=None, metadata=OPTIONAL)
    checks: list[Check] | None = field(default=None, metadata=OPTIONAL)
    check_runs: dict[str, list[int]] | None = field(default=None, metadata=OPTIONAL)


@dataclass
class Annotation(Document):
    """The affective tree of one clip (``schemas/annotation.schema.json``)."""

    attributes: list[Attribute] = field(default_factory=list)
    expressions: list[Expression] = field(default_factory=list)
    emotion: Emotion = field(default_factory=Emotion)
    rationale: list[RationaleStep] = field(default_factory=list)
    #: the reasoner's account of a modality conflict ("" when none); None in older trees
    conflict: str | None = field(default=None, metadata=OPTIONAL)
    caption: str = ""
    qa: list[QAPair] = field(default_factory=list)
    #: tree field (``attributes[0].age_range``, ``emotion``, ``notes.perceiver``) -> measured,
    #: model or rendered
    sources: dict[str, str] = field(default_factory=dict)
    critic: CriticResult = field(default_factory=CriticResult)
    #: the cue catalog the agents saw and cited: cue id -> ``{"text": ..., "value": ...}``
    cues: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per agent: backend, model, prompt version and hash, calls, tokens, latency, cost...
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)
