"""Prompts and answers from a sample's affective tree, shared by every text format.

Prompt wording lives in ``templates/<kind>.txt`` (one variant per line, ``#`` comments), so it
can be edited without touching code; a sample's variant is chosen by a hash of its key, so a
re-export gives the same prompts. Answers are built from the (reviewed) tree only: the emotion
label with valence, arousal and terms, the rationale as numbered steps, the caption, the
subjects' attributes and the QA pairs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from emodata.annotate.record import Annotation, Attribute, Emotion, RationaleStep
from emodata.cues.face import LABELS as FER_LABELS
from emodata.records import ClipRecord

KINDS = ("attribute", "caption", "emotion", "qa", "rationale")
TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def templates(kind: str) -> tuple[str, ...]:
    """The prompt variants of ``kind`` (one per non-comment line of its template file)."""
    path = TEMPLATES / f"{kind}.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    variants = tuple(s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#"))
    if not variants:
        raise ValueError(f"{path}: no prompt variant (one per line, # for comments)")
    return variants


def prompt(kind: str, key: str, **fields: str) -> str:
    """The variant of ``kind`` for sample ``key``, filled with ``fields``."""
    variants = templates(kind)
    pick = int(hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()[:8], 16) % len(variants)
    return variants[pick].format(**fields)


@dataclass
class Rendered:
    """What the text formats need of one sample; answers are None when the tree lacks them."""

    key: str
    label: str | None
    label_space: list[str]
    emotion: str | None = None
    rationale: str | None = None
    caption: str | None = None
    attribute: str | None = None
    qa: list[tuple[str, str]] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    transcript: str = ""
    reason: str = ""
    visual_priors: list[str] = field(default_factory=list)
    audio_prior: str = ""
    peak_index: int = 0
    frame_count: int = 0

    def ask(self, kind: str, **fields: str) -> str:
        return prompt(kind, self.key, labels=", ".join(self.label_space), **fields)


def _dedup(items: list[str]) -> list[str]:
    return list(dict.fromkeys(s.strip() for s in items if s and s.strip()))


def emotion_answer(label: str, emotion: Emotion) -> str:
    """``happy (valence +0.6, arousal +0.3): cheerful, warm``."""
    v, a = emotion.valence, emotion.arousal
    head = label
    if v is not None and a is not None:
        head = f"{label} (valence {float(v):+.1f}, arousal {float(a):+.1f})"
    terms = [t for t in _dedup(list(emotion.terms)) if t != label]
    return f"{head}: {', '.join(terms)}" if terms else head


def rationale_answer(steps: list[RationaleStep], label: str | None) -> str | None:
    claims = _dedup([s.claim for s in steps])
    if not claims:
        return None
    lines = [f"{i}. {c}" for i, c in enumerate(claims, 1)]
    if label and not (claims[-1].startswith("So ") and label in claims[-1]):
        lines.append(f"{len(claims) + 1}. So the emotion is {label}.")
    return "\n".join(lines)


def attribute_answer(attributes: list[Attribute]) -> str | None:
    """Age range, gender presentation and appearance per subject (named when more than one)."""
    described = []
    for a in attributes:
        parts = []
        if a.age_range:
            parts.append(f"apparent age {a.age_range}")
        if a.gender_presentation:
            parts.append(f"{a.gender_presentation} gender presentation")
        if a.appearance:
            parts.append(a.appearance)
        if parts:
            described.append((a.subject or "person", ", ".join(parts)))
    if not described:
        return None
    if len(described) == 1:
        text = described[0][1]
        return f"{text[0].upper()}{text[1:]}."
    return " ".join(f"{subject}: {text}." for subject, text in described)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def reason_text(caption: str | None, steps: list[RationaleStep]) -> str:
    """The caption followed by the rationale's claims as sentences (MERR, EMER)."""
    parts = [caption or ""] + [s.claim for s in steps]
    return " ".join(_sentence(p[0].upper() + p[1:]) for p in _dedup(parts))


def audio_prior(tree: Annotation) -> str:
    """Vocal expressions and the voice/audio cues they cite, as one description."""
    cues = tree.cues
    parts: list[str] = []
    for e in tree.expressions:
        if e.modality == "vocal":
            parts.append(e.description)
            parts += [str((cues.get(c) or {}).get("text") or "") for c in e.cues]
    parts += [
        str(c.get("text") or "")
        for cid, c in sorted(cues.items())
        if cid.startswith(("voice.", "audio."))
    ]
    return "; ".join(_dedup(parts))


def peak_index(record: ClipRecord, fps: float) -> int:
    """Video frame of the main track's strongest non-neutral expression score (0 if none)."""
    main = record.faces.main_track if record.faces is not None else None
    track = record.cues.track(main) if record.cues else None
    best, at = -1.0, 0.0
    keep = [i for i, name in enumerate(FER_LABELS) if name != "neutral"]
    for point in track.series if track else []:
        scores = point.expression
        if not scores or len(scores) != len(FER_LABELS):
            continue
        top = max(scores[i] for i in keep)
        if top > best:
            best, at = top, float(point.t or 0.0)
    return round(at * fps) if best >= 0 else 0


def render(
    record: ClipRecord, row: dict[str, Any], label: str | None, label_space: list[str]
) -> Rendered:
    """The prompts' and answers' material of one sample (``record`` has reviews applied)."""
    tree = record.annotation or Annotation()
    emotion = tree.emotion
    steps = tree.rationale
    caption = tree.caption or row.get("caption") or None
    fps = float(row.get("fps") or record.clip.fps or 25.0)
    transcript = (record.transcript.text if record.transcript else "") or row.get("asr_text") or ""
    r = Rendered(key=row["key"], label=label, label_space=label_space)
    r.emotion = emotion_answer(label, emotion) if label else None
    r.rationale = rationale_answer(steps, label)
    r.caption = caption
    r.attribute = attribute_answer(tree.attributes)
    r.qa = [
        (q.question.strip(), q.answer.strip())
        for q in tree.qa
        if q.question.strip() and q.answer.strip()
    ]
    r.terms = _dedup([label or "", *emotion.terms])
    r.transcript = transcript.strip()
    r.reason = reason_text(caption, steps)
    r.visual_priors = _dedup(
        [e.description for e in tree.expressions if e.modality in ("facial", "bodily")]
    )
    r.audio_prior = audio_prior(tree)
    r.peak_index = peak_index(record, fps)
    r.frame_count = max(1, round(float(row.get("duration_s") or 0.0) * fps))
    return r
