"""The critic's deterministic grounding checks: every claim in a tree against measured evidence.

These run before any LLM review, so a tree that cites a cue that does not exist, claims a smile
the expression scores do not show, claims speech on a silent clip, uses a label outside the
taxonomy or a valence that contradicts its label is caught whatever the critic model thinks.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from emodata.annotate.evidence import Evidence

#: Words that claim a facial expression, by the FER2013 class whose score must back them.
EXPRESSION_WORDS: dict[str, tuple[str, ...]] = {
    "happy": ("smil", "grin", "laugh", "beam", "happy", "joy", "cheerful"),
    "sad": ("sad", "frown", "tear", "cry", "crie", "sorrow", "downcast"),
    "angry": ("angry", "anger", "scowl", "glar", "furious", "rage"),
    "fear": ("fear", "afraid", "scared", "terrified", "frighten"),
    "surprise": ("surpris", "astonish", "shock", "startl"),
    "disgust": ("disgust", "grimac", "repuls"),
}
SPEECH_WORDS = (
    "say",
    "said",
    "speak",
    "spoke",
    "talk",
    "tell",
    "told",
    "shout",
    "whisper",
    "word",
    "utter",
    "exclaim",
    "speech",
    "voice",
)
_SCORE = re.compile(r"\s*[:=]?\s*[0-9]*\.?[0-9]+")
_NEGATION = re.compile(r"\b(?:not|no|without|never|isn't|doesn't|nor)\b(?:\W+\w+){0,2}\W*$")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mentions(text: str, stems: tuple[str, ...]) -> bool:
    """True when a word starting with one of ``stems`` appears without a negation before it."""
    low = text.lower()
    for m in re.finditer(r"\b(" + "|".join(re.escape(s) for s in stems) + r")\w*", low):
        if _SCORE.match(low, m.end()):
            continue  # "surprise 0.02": a quoted score, not a claim
        if not _NEGATION.search(low[: m.start()]):
            return True
    return False


def _cited(tree: dict[str, Any]) -> list[tuple[str, str]]:
    out = [
        (f"rationale[{i}]", c)
        for i, r in enumerate(tree.get("rationale") or [])
        for c in r.get("cues") or []
    ]
    out += [
        (f"expressions[{i}]", c)
        for i, e in enumerate(tree.get("expressions") or [])
        for c in e.get("cues") or []
    ]
    return out


def check_cues_exist(tree: dict[str, Any], ev: Evidence) -> Check:
    missing = [f"{where} cites '{cue}'" for where, cue in _cited(tree) if cue not in ev.cues]
    if missing:
        return Check("cues_exist", False, "unknown cue id(s): " + "; ".join(missing[:5]))
    return Check("cues_exist", True)


def check_label(tree: dict[str, Any], taxonomy: dict[str, tuple[float, float]]) -> Check:
    label = (tree.get("emotion") or {}).get("label")
    if label not in taxonomy:
        return Check(
            "label_in_taxonomy",
            False,
            f"label '{label}' is not in the taxonomy ({', '.join(sorted(taxonomy))})",
        )
    return Check("label_in_taxonomy", True)


def check_valence(tree: dict[str, Any], taxonomy: dict[str, tuple[float, float]]) -> Check:
    emo = tree.get("emotion") or {}
    label, v = emo.get("label"), emo.get("valence")
    if label not in taxonomy or v is None:
        return Check("valence_matches_label", True, "not checked: no label or valence")
    lo, hi = taxonomy[label]
    if not lo <= float(v) <= hi:
        return Check(
            "valence_matches_label",
            False,
            f"valence {float(v):+.2f} contradicts '{label}' (expected {lo:+.2f}..{hi:+.2f})",
        )
    return Check("valence_matches_label", True)


def _facial_claims(tree: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(track or None, where, text) for every statement about a face."""
    out = []
    for i, e in enumerate(tree.get("expressions") or []):
        if e.get("modality") == "facial":
            out.append((e.get("track") or None, f"expressions[{i}]", e.get("description", "")))
    for i, r in enumerate(tree.get("rationale") or []):
        faces = [c.split(".")[1] for c in r.get("cues") or [] if c.startswith("face.")]
        if faces:
            out.append((faces[0], f"rationale[{i}]", r.get("claim", "")))
    return out


def check_faces(tree: dict[str, Any], ev: Evidence) -> Check:
    if not ev.faces_run:
        return Check("faces_exist", True, "not checked: faces did not run")
    facial = [e for e in tree.get("expressions") or [] if e.get("modality") == "facial"]
    known = {c.split(".")[1] for c in ev.cues if c.startswith("face.")}
    if facial and not known:
        return Check("faces_exist", False, "facial expressions claimed on a clip with no face")
    bad = [e.get("track") for e in facial if e.get("track") and e.get("track") not in known]
    if bad:
        return Check("faces_exist", False, f"unknown face track(s) {bad}; known {sorted(known)}")
    return Check("faces_exist", True)


def check_expressions(tree: dict[str, Any], ev: Evidence, min_score: float) -> Check:
    if not ev.tracks:
        return Check("expressions_measured", True, "not checked: no expression scores")
    problems = []
    for track, where, text in _facial_claims(tree):
        scores = ev.tracks.get(track or "") or ev.tracks.get(ev.main_track or "")
        if scores is None:
            scores = {k: max(t.get(k, 0.0) for t in ev.tracks.values()) for k in EXPRESSION_WORDS}
        for cls, stems in EXPRESSION_WORDS.items():
            if _mentions(text, stems) and scores.get(cls, 0.0) < min_score:
                problems.append(
                    f"{where} claims {cls} ('{text[:60]}') but the measured "
                    f"{cls} score is {scores.get(cls, 0.0):.2f}"
                )
    if problems:
        return Check("expressions_measured", False, "; ".join(problems[:3]))
    return Check("expressions_measured", True)


def check_speech(tree: dict[str, Any], ev: Evidence, silence_ratio: float) -> Check:
    if not ev.silent(silence_ratio):
        return Check("speech_measured", True, "not checked: speech present or not transcribed")
    claims = [
        (f"expressions[{i}]", e.get("description", ""))
        for i, e in enumerate(tree.get("expressions") or [])
        if e.get("modality") == "vocal"
    ]
    claims += [
        (f"rationale[{i}]", r.get("claim", "")) for i, r in enumerate(tree.get("rationale") or [])
    ]
    claims.append(("caption", tree.get("caption", "")))
    said = [w for w, text in claims if _mentions(text, SPEECH_WORDS)]
    vocal = [
        f"expressions[{i}]"
        for i, e in enumerate(tree.get("expressions") or [])
        if e.get("modality") == "vocal"
    ]
    if said or vocal:
        return Check(
            "speech_measured",
            False,
            f"speech claimed in {sorted(set(said + vocal))} "
            f"but the clip is silent (speech ratio {ev.speech_ratio:.2f})",
        )
    return Check("speech_measured", True)


def check_times(tree: dict[str, Any], ev: Evidence) -> Check:
    bad = [
        f"expressions[{i}] {e.get('start_s')}-{e.get('end_s')} s"
        for i, e in enumerate(tree.get("expressions") or [])
        if not 0 <= e.get("start_s", 0) <= e.get("end_s", 0) <= ev.duration_s + 0.5
    ]
    if bad:
        return Check("times_in_clip", False, f"outside the {ev.duration_s:.1f} s clip: {bad[:3]}")
    return Check("times_in_clip", True)


def ground(
    tree: dict[str, Any],
    ev: Evidence,
    taxonomy: dict[str, tuple[float, float]],
    *,
    min_claimed_score: float = 0.2,
    silence_ratio: float = 0.05,
) -> list[Check]:
    """All deterministic checks on one tree; a tree passes when every check is ok."""
    return [
        check_cues_exist(tree, ev),
        check_label(tree, taxonomy),
        check_valence(tree, taxonomy),
        check_faces(tree, ev),
        check_expressions(tree, ev, min_claimed_score),
        check_speech(tree, ev, silence_ratio),
        check_times(tree, ev),
    ]
