"""What the sample page shows, as plain data: words with times, cue series, the affective tree.

Samples come from runs with different stages, so every accessor accepts a missing part (no
transcript, no faces, no annotation) and returns an empty value instead of raising; the page
then says "none" for that panel. Loudness and pitch over time are computed from the clip's WAV
with the same definitions as the cues stage (``emodata.cues.audio``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emodata.annotate.record import Annotation
from emodata.cues.audio import SR, pitch_track
from emodata.cues.face import LABELS
from emodata.faces.record import Faces, FaceTrack
from emodata.media import wav_to_float32
from emodata.records import ClipRecord

EMPTY_TREE_PARTS = ("attributes", "expressions", "rationale", "qa")


def transcript_words(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every word with start, end and probability, in order; [] without a transcript."""
    transcript = doc.get("transcript") or {}
    out = []
    for seg in transcript.get("segments") or []:
        for w in seg.get("words") or []:
            out.append(
                {
                    "start": w.get("start"),
                    "end": w.get("end"),
                    "word": str(w.get("word", "")).strip(),
                    "probability": w.get("probability"),
                }
            )
    return out


def transcript_text(doc: dict[str, Any]) -> str:
    return str((doc.get("transcript") or {}).get("text") or doc.get("asr_text") or "").strip()


def face_tracks(doc: dict[str, Any]) -> tuple[list[FaceTrack], int | None]:
    """The face tracks and the main subject's track id; ([], None) without faces."""
    faces = doc.get("faces")
    if not isinstance(faces, dict):
        return [], None
    typed = Faces.from_dict(faces)
    return typed.tracks, typed.main_track


def expression_series(doc: dict[str, Any], track: int | None = None) -> list[dict[str, Any]]:
    """Expression scores over time for one face track (the main subject by default).

    Rows ``{"t": seconds, label: score, ...}``; frames where no score was possible are skipped.
    """
    cues = ClipRecord.from_dict(doc).cues
    if cues is None or not cues.tracks:
        return []
    if track is None:
        track = face_tracks(doc)[1]
    chosen = cues.track(track) or cues.tracks[0]
    rows = []
    for point in chosen.series:
        scores = point.expression
        if scores is None or len(scores) != len(LABELS):
            continue
        rows.append({"t": point.t, **dict(zip(LABELS, scores, strict=True))})
    return rows


def audio_series(wav: bytes | None, step_s: float = 0.1) -> list[dict[str, Any]]:
    """Loudness (dBFS of each ``step_s`` window) and median pitch (Hz, None when unvoiced)."""
    if not wav:
        return []
    audio = wav_to_float32(wav)
    hop = max(1, int(step_s * SR))
    n = len(audio) // hop
    if n == 0:
        return []
    windows = audio[: n * hop].reshape(n, hop).astype(np.float64)
    db = 20 * np.log10(np.sqrt((windows**2).mean(axis=1)) + 1e-10)
    f0 = pitch_track(audio)  # 10 ms hop
    per = max(1, int(step_s / 0.01))
    rows = []
    for i in range(n):
        chunk = f0[i * per : (i + 1) * per]
        voiced = chunk[~np.isnan(chunk)]
        rows.append(
            {
                "t": round(i * step_s, 3),
                "loudness_db": round(float(max(db[i], -90.0)), 2),
                "pitch_hz": round(float(np.median(voiced)), 1) if voiced.size else None,
            }
        )
    return rows


def annotation(doc: dict[str, Any]) -> Annotation | None:
    """The affective tree, or None when the sample was not annotated."""
    tree = doc.get("annotation")
    if not (isinstance(tree, dict) and tree.get("emotion")):
        return None
    return Annotation.from_dict(tree)  # as ClipRecord.from_dict reads it


def tree_summary(tree: Annotation | None) -> dict[str, Any]:
    """The parts a reviewer checks, as the page's plain data, with safe defaults for anything
    missing."""
    tree = tree or Annotation()
    emotion = tree.emotion
    return {
        "label": emotion.label or None,
        "terms": list(emotion.terms),
        "valence": emotion.valence,
        "arousal": emotion.arousal,
        "confidence": emotion.confidence,
        "caption": tree.caption,
        "rationale": [s.to_dict() for s in tree.rationale],
        "qa": [q.to_dict() for q in tree.qa],
        "attributes": [a.to_dict() for a in tree.attributes],
        "expressions": [e.to_dict() for e in tree.expressions],
        "verdict": tree.critic.verdict or None,
        "reasons": list(tree.critic.reasons),
        "cues": dict(tree.cues),
    }


def diff_edits(original: dict[str, Any], edited: dict[str, Any]) -> dict[str, Any]:
    """Only the fields a reviewer actually changed, in the store's edit format.

    ``original`` and ``edited`` are :func:`tree_summary`-shaped; QA answers are compared by
    position and stored as ``{"qa": {"index": answer}}``.
    """
    edits: dict[str, Any] = {}
    for name in ("label", "caption"):
        new = (edited.get(name) or "").strip()
        if new and new != (original.get(name) or ""):
            edits[name] = new
    for name in ("valence", "arousal"):
        new = edited.get(name)
        old = original.get(name)
        if new is not None and (old is None or abs(float(new) - float(old)) > 1e-9):
            edits[name] = round(float(new), 4)
    old_claims = [r.get("claim", "") for r in original.get("rationale") or []]
    new_rat = edited.get("rationale")
    if new_rat is not None and [r.get("claim", "") for r in new_rat] != old_claims:
        edits["rationale"] = new_rat
    answers = {}
    old_qa = original.get("qa") or []
    for i, answer in enumerate(edited.get("qa_answers") or []):
        if i < len(old_qa) and answer.strip() and answer.strip() != old_qa[i].get("answer"):
            answers[str(i)] = answer.strip()
    if answers:
        edits["qa"] = answers
    return edits
