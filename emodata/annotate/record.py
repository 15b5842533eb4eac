"""The affective tree as the record carries it: ``ClipRecord.annotation``.

The agents and the critic work on the tree as JSON (what a model emits and a schema checks);
the annotate stage turns the finished tree into an :class:`Annotation`, and every reader after
it (exports, review, benchmarks) uses its fields. ``to_dict`` gives back exactly the document
of ``schemas/annotation.schema.json`` that sample JSONs hold: keys the schema requires are
always written, the optional ones (``conflict``, an attribute's ``cues``, the critic's
``checks``, ``requests`` and ``check_runs``) only when set, so a tree from a run before they
existed reads back and writes out as it was, and its index columns stay null. ``from_dict``
leaves out keys it does not know (a newer writer's) and fills missing ones with defaults.

Maps keyed by open-ended names stay dicts: the cue catalog (cue id -> ``{text, value}``),
``sources`` (tree field -> measured, model or rendered), the critic's runs per check and the
provenance per agent (its keys grow with what a backend reports).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict elements of a JSON list (anything else in a hand-edited tree is skipped)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strs(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else []


def _optional_strs(value: Any) -> list[str] | None:
    return list(value) if isinstance(value, list) else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any, default: float) -> Any:
    """A number as written (an int stays an int, so the JSON reads back unchanged)."""
    return default if value is None else value


@dataclass
class Attribute:
    """One subject (a face track id, or ``scene``): age and gender from the networks,
    appearance and context from a model that saw the frames."""

    subject: str = ""
    age_range: str = ""
    gender_presentation: str = ""
    appearance: str = ""
    context: str = ""
    #: the measured cues the values come from; None when the tree did not say (older runs)
    cues: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subject": self.subject,
            "age_range": self.age_range,
            "gender_presentation": self.gender_presentation,
            "appearance": self.appearance,
            "context": self.context,
        }
        if self.cues is not None:
            out["cues"] = list(self.cues)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attribute:
        return cls(
            subject=_text(data.get("subject")),
            age_range=_text(data.get("age_range")),
            gender_presentation=_text(data.get("gender_presentation")),
            appearance=_text(data.get("appearance")),
            context=_text(data.get("context")),
            cues=_optional_strs(data.get("cues")),
        )


@dataclass
class Expression:
    """A facial, vocal or bodily expression over a span of the clip, with the cues behind it."""

    modality: str = ""  # facial, vocal or bodily
    track: str | None = None  # the face track of a facial expression ("" or null otherwise)
    description: str = ""
    start_s: float = 0.0
    end_s: float = 0.0
    cues: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "track": self.track,
            "description": self.description,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "cues": list(self.cues),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Expression:
        return cls(
            modality=_text(data.get("modality")),
            track=data.get("track"),
            description=_text(data.get("description")),
            start_s=_number(data.get("start_s"), 0.0),
            end_s=_number(data.get("end_s"), 0.0),
            cues=_strs(data.get("cues")),
        )


@dataclass
class Emotion:
    """The clip's label from the taxonomy, open-vocabulary terms, valence and arousal in
    [-1, 1] and the model's confidence in [0, 1] (None where a tree lacks a number)."""

    label: str = ""
    terms: list[str] = field(default_factory=list)
    valence: float | None = None
    arousal: float | None = None
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "terms": list(self.terms),
            "valence": self.valence,
            "arousal": self.arousal,
            "confidence": self.confidence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Emotion:
        return cls(
            label=_text(data.get("label")),
            terms=_strs(data.get("terms")),
            valence=data.get("valence"),
            arousal=data.get("arousal"),
            confidence=data.get("confidence"),
        )


@dataclass
class RationaleStep:
    """One claim of the reasoning and the cue ids it rests on."""

    claim: str = ""
    cues: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "cues": list(self.cues)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RationaleStep:
        return cls(claim=_text(data.get("claim")), cues=_strs(data.get("cues")))


@dataclass
class QAPair:
    """An instruction pair of one of Emo-CFG's kinds: attribute, expression, emotion or
    reasoning."""

    kind: str = ""
    question: str = ""
    answer: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "question": self.question, "answer": self.answer}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QAPair:
        return cls(
            kind=_text(data.get("kind")),
            question=_text(data.get("question")),
            answer=_text(data.get("answer")),
        )


@dataclass
class Check:
    """One deterministic critic check on one round: its id, whether it held, and on failure
    what was wrong and the claim it failed on."""

    name: str
    ok: bool
    detail: str = ""
    claim: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "claim": self.claim}

    to_dict = as_dict

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        return cls(
            name=_text(data.get("name")),
            ok=bool(data.get("ok")),
            detail=_text(data.get("detail")),
            claim=_text(data.get("claim")),
        )

    def reason(self) -> str:
        """``check_id: detail [claim: ...]``, as sent back to the reasoner and recorded."""
        claim = f" [claim: {self.claim[:120]}]" if self.claim else ""
        return f"{self.name}: {self.detail}{claim}"


@dataclass
class CriticResult:
    """What the critic decided: the verdict, why a tree was rejected, how often it was sent
    back and with which requests, and its checks (the last round's, and per check the
    ``[evaluations, failures]`` over all rounds). The last three are None in trees of runs
    that did not record them."""

    verdict: str = ""  # accepted, revised or rejected
    reasons: list[str] = field(default_factory=list)
    revisions: int = 0
    requests: list[str] | None = None
    checks: list[Check] | None = None
    check_runs: dict[str, list[int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "revisions": self.revisions,
        }
        if self.requests is not None:
            out["requests"] = list(self.requests)
        if self.checks is not None:
            out["checks"] = [c.to_dict() for c in self.checks]
        if self.check_runs is not None:
            out["check_runs"] = {k: list(v) for k, v in self.check_runs.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CriticResult:
        runs = data.get("check_runs")
        return cls(
            verdict=_text(data.get("verdict")),
            reasons=_strs(data.get("reasons")),
            revisions=_number(data.get("revisions"), 0),
            requests=_optional_strs(data.get("requests")),
            checks=(
                [Check.from_dict(c) for c in _dicts(data["checks"])]
                if isinstance(data.get("checks"), list)
                else None
            ),
            check_runs=(
                {str(k): list(v) for k, v in runs.items() if isinstance(v, list)}
                if isinstance(runs, dict)
                else None
            ),
        )


@dataclass
class Annotation:
    """The affective tree of one clip (``schemas/annotation.schema.json``)."""

    attributes: list[Attribute] = field(default_factory=list)
    expressions: list[Expression] = field(default_factory=list)
    emotion: Emotion = field(default_factory=Emotion)
    rationale: list[RationaleStep] = field(default_factory=list)
    #: the reasoner's account of a modality conflict ("" when none); None in older trees
    conflict: str | None = None
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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": [a.to_dict() for a in self.attributes],
            "expressions": [e.to_dict() for e in self.expressions],
            "emotion": self.emotion.to_dict(),
            "rationale": [s.to_dict() for s in self.rationale],
        }
        if self.conflict is not None:
            out["conflict"] = self.conflict
        out.update(
            caption=self.caption,
            qa=[q.to_dict() for q in self.qa],
            sources=dict(self.sources),
            critic=self.critic.to_dict(),
            cues={k: dict(v) for k, v in self.cues.items()},
            provenance={k: dict(v) for k, v in self.provenance.items()},
        )
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Annotation:
        """The tree from ``to_dict`` output or a sample JSON's ``annotation``."""
        emotion = data.get("emotion")
        critic = data.get("critic")
        cues = data.get("cues")
        prov = data.get("provenance")
        return cls(
            attributes=[Attribute.from_dict(a) for a in _dicts(data.get("attributes"))],
            expressions=[Expression.from_dict(e) for e in _dicts(data.get("expressions"))],
            emotion=Emotion.from_dict(emotion if isinstance(emotion, dict) else {}),
            rationale=[RationaleStep.from_dict(s) for s in _dicts(data.get("rationale"))],
            conflict=data.get("conflict"),
            caption=_text(data.get("caption")),
            qa=[QAPair.from_dict(q) for q in _dicts(data.get("qa"))],
            sources=dict(data.get("sources") or {}),
            critic=CriticResult.from_dict(critic if isinstance(critic, dict) else {}),
            cues=(
                {k: dict(v) for k, v in cues.items() if isinstance(v, dict)}
                if isinstance(cues, dict)
                else {}
            ),
            provenance=(
                {k: dict(v) for k, v in prov.items() if isinstance(v, dict)}
                if isinstance(prov, dict)
                else {}
            ),
        )
