"""Notes rendered from measurements, and the subject attributes the tree takes from them.

A text-only model cannot see frames or hear the voice: asked to act as perceiver or listener it
can only paraphrase the cue catalog the reasoner reads anyway, and a small one paraphrases badly
("age range: 13.5 s long"). So with a backend without ``vision`` these two agents make no model
call; their notes are written here from the measured values, each line citing its cue ids, and
the reasoner gets clean notes. Age range and gender presentation always come from the age and
gender networks (the main face track first); a model may add appearance and context only where
it has a basis (frames, with a vision backend).
"""

from __future__ import annotations

from typing import Any

from emodata.annotate.evidence import Evidence
from emodata.asr.base import Transcript

MEASURED, MODEL = "measured", "model"
RENDERED = "rendered:measurements"  # the usage "model" of notes written here, with no call
_GEOMETRY = (
    ("mouth_open", "mouth opening"),
    ("brow_raise", "brow raise"),
    ("eye_open", "eye opening"),
)


def _tracks(ev: Evidence) -> list[str]:
    """Face tracks with any cue, the main subject first."""
    found = sorted({k.split(".")[1] for k in ev.cues if k.startswith("face.")})
    if ev.main_track in found:
        found.remove(ev.main_track)
        found.insert(0, ev.main_track)
    return found


def _scene(ev: Evidence) -> str:
    parts = [
        ev.cues[k]["text"]
        for k in ("visual.brightness", "visual.colorfulness", "visual.motion")
        if k in ev.cues
    ]
    return "; ".join(parts)


def measured_attributes(ev: Evidence, limit: int = 4) -> list[dict[str, Any]]:
    """One attribute entry per face track with a measured age or gender (main track first)."""
    out = []
    for tid in _tracks(ev):
        if tid not in ev.ages and tid not in ev.genders:
            continue
        cues = [c for c in (f"face.{tid}.age", f"face.{tid}.gender") if c in ev.cues]
        age = ev.ages.get(tid)
        out.append(
            {
                "subject": tid,
                "age_range": f"{age[1]:.0f}-{age[2]:.0f}" if age else "",
                "gender_presentation": ev.genders[tid][0] if tid in ev.genders else "",
                "appearance": "",
                "context": "",
                "cues": cues,
            }
        )
    return out[:limit]


def merge_attributes(
    ev: Evidence, written: list[dict[str, Any]], vision: bool
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The tree's attributes and, per field, where it came from (``measured`` or ``model``).

    Measured age and gender win over whatever a model wrote; a model's appearance and context
    are kept only from a vision backend (it saw the frames), as are its age and gender for a
    subject the networks did not measure.
    """
    attrs = measured_attributes(ev)
    sources: dict[str, str] = {}
    by_subject = {a["subject"]: a for a in attrs}
    for w in written if vision else []:
        a = by_subject.get(w.get("subject", ""))
        if a is None:
            a = {
                "subject": w.get("subject", ""),
                "age_range": "",
                "gender_presentation": "",
                "appearance": "",
                "context": "",
                "cues": [],
            }
            attrs.append(a)
            by_subject[a["subject"]] = a
        for f in ("age_range", "gender_presentation", "appearance", "context"):
            if not a[f] and w.get(f):
                a[f] = w[f]
                sources[f"{a['subject']}.{f}"] = MODEL
    for i, a in enumerate(attrs):
        for f in ("age_range", "gender_presentation", "appearance", "context"):
            if a[f]:
                sources[f"attributes[{i}].{f}"] = sources.pop(f"{a['subject']}.{f}", MEASURED)
    return attrs, sources


def perceiver(ev: Evidence, min_score: float) -> dict[str, Any]:
    """What the face and frame measurements show, as the perceiver's notes."""
    expressions = []
    geometry = []
    for tid in _tracks(ev):
        scores = ev.tracks.get(tid) or {}
        for cls, score in sorted(scores.items(), key=lambda kv: -kv[1]):
            if score < min_score:
                continue
            start, end = ev.spans.get(tid, {}).get(cls, (0.0, ev.duration_s))
            expressions.append(
                {
                    "modality": "facial",
                    "track": tid,
                    "description": f"{cls} expression (mean FER score {score:.2f})",
                    "start_s": round(start, 2),
                    "end_s": round(end, 2),
                    "cues": [f"face.{tid}.expression"],
                }
            )
        parts = [
            (f"face.{tid}.{name}", f"{what} {float(ev.cues[f'face.{tid}.{name}']['value']):.2f}")
            for name, what in _GEOMETRY
            if f"face.{tid}.{name}" in ev.cues
        ]
        if parts:
            geometry.append(
                {
                    "track": tid,
                    "description": ", ".join(p[1] for p in parts),
                    "cues": [p[0] for p in parts],
                }
            )
    notes: dict[str, Any] = {
        "attributes": measured_attributes(ev),
        "expressions": expressions,
        "geometry": geometry,
        "scene": _scene(ev),
    }
    if not ev.has_face():
        notes["faces"] = "no face measured: make no facial claim"
    return notes


def listener(ev: Evidence, transcript: Transcript | None, silence_ratio: float) -> dict[str, Any]:
    """What the transcript and voice measurements say, as the listener's notes."""
    if not ev.has_speech(silence_ratio):
        why = "not transcribed" if ev.speech_ratio is None else "no speech in the clip"
        notes: dict[str, Any] = {"speech": "", "quotes": [], "vocal": [], "words": None}
        notes["note"] = f"{why}: make no claim about what is said"
        if ev.speech_ratio is not None:
            return notes
    else:
        notes = {"speech": ev.transcript, "quotes": [], "vocal": [], "words": None}
    segments = transcript.segments if transcript is not None else []
    for i, seg in enumerate(segments):
        text = seg.text.strip()
        if not text:
            continue
        cue = f"words.s{i}.valence"
        notes["quotes"].append(
            {
                "start_s": round(seg.start, 2),
                "end_s": round(seg.end, 2),
                "text": text,
                "wording": ev.cues[cue]["text"] if cue in ev.cues else "",
                "cues": [c for c in ("speech.transcript", cue) if c in ev.cues],
            }
        )
    voice = [
        c
        for c in ("voice.arousal", "audio.loudness", "audio.pitch", "audio.speech_rate")
        if c in ev.cues
    ]
    if voice:
        notes["vocal"].append(
            {
                "modality": "vocal",
                "description": "; ".join(ev.cues[c]["text"] for c in voice),
                "start_s": 0.0,
                "end_s": round(ev.duration_s, 2),
                "cues": voice,
            }
        )
    words = [c for c in ("words.valence", "words.emotions") if c in ev.cues]
    if words:
        notes["words"] = {
            "description": "; ".join(ev.cues[c]["text"] for c in words),
            "cues": words,
        }
    return notes
