"""The tree's texts written from the measurements and the model's choice of emotion.

With ``annotate.texts: rendered`` the reasoner model only chooses the emotion (label, terms,
valence, arousal, confidence) under the clip's narrowed schema; the expressions, the rationale,
the conflict, the caption and the QA are written here from the measured cues and that choice.
Every sentence states a measured value and every step cites the cue ids it rests on, so the
texts pass the critic's checks by construction; what a model could get wrong is left to it alone
(the label and the numbers), and the critic checks those as always.

This is for models too small to write (the embedded CPU models copy the transcript into the
caption and repeat one step three times); a model that writes well keeps ``texts: model``.
"""

from __future__ import annotations

import re
from typing import Any

from emodata.annotate import notes
from emodata.annotate.critic import NRC_LABEL, label_support
from emodata.annotate.evidence import Evidence, level, signed
from emodata.annotate.settings import AnnotateConfig

RENDERED = "rendered"  # the source of a tree field written here
_NAMES = {"face": "the face", "voice": "the voice", "words": "the words"}


def _top_face(ev: Evidence, min_score: float) -> tuple[str, float] | None:
    scores = ev.tracks.get(ev.main_track or "") or {}
    if not scores:
        return None
    cls, score = max(scores.items(), key=lambda kv: kv[1])
    return (cls, score) if score >= min_score else None


def _words_said(ev: Evidence) -> str | None:
    """'negative wording (VADER -0.85) with sadness words' or None without measured words."""
    w = ev.modality.words
    if w is None or w.valence is None:
        return None
    v = float(w.valence)
    text = f"{signed(v)} wording (VADER {v:+.2f})"
    shares = w.labels or {}
    named = [k for k, x in sorted(shares.items(), key=lambda kv: -kv[1]) if x >= 0.25]
    if named and named[0] in NRC_LABEL:
        text += f" with {named[0]} words"
    return text


def _voice_said(ev: Evidence) -> str | None:
    voice = ev.modality.voice
    if voice is None or voice.arousal is None:
        return None
    a = float(voice.arousal)
    said = level(a, (-0.25, 0.25), ("calm", "of moderate arousal", "aroused"))
    return f"{said} (vocal arousal {a:+.2f})"


_ADJECTIVE = {"fear": "fearful", "surprise": "surprised", "disgust": "disgusted"}


def _face_said(ev: Evidence, min_score: float, name: str | None = None) -> str | None:
    """'face t0 looks fearful (fear 0.62 of the expression scores)'; None without a face."""
    if not ev.main_track or ev.main_track not in ev.tracks:
        return None
    name = name or f"face {ev.main_track}"
    top = _top_face(ev, min_score)
    if top is None:
        return f"{name} shows no clear expression"
    cls, score = top
    looks = "stays" if cls == "neutral" else "looks"
    return f"{name} {looks} {_ADJECTIVE.get(cls, cls)} ({cls} {score:.2f} of the expression scores)"


_MOTION = {"still": "little", "some": "some", "strong": "strong"}


def _picture(ev: Evidence) -> str:
    """'moderate in brightness, with vivid colour and little motion', from the visual cues."""
    first = {k: ev.cues[k]["text"].split()[0] for k in ev.cues if k.startswith("visual.")}
    parts = []
    if "visual.colorfulness" in first:
        parts.append(f"{first['visual.colorfulness']} colour")
    if "visual.motion" in first:
        parts.append(f"{_MOTION.get(first['visual.motion'], 'some')} motion")
    text = f"{first['visual.brightness']} in brightness" if "visual.brightness" in first else ""
    if parts:
        text += (", with " if text else "with ") + " and ".join(parts)
    return text


def _supporters(label: str, ev: Evidence, cfg: AnnotateConfig) -> list[str]:
    """The modalities to name as supporting ``label``: the face only when its dominant class
    is the label (a runner-up score is not what a reader sees), voice and words as measured."""
    support = label_support(ev.modality, cfg.taxonomy, cfg.min_claimed_score, cfg.neutral_label)
    said = support.get(label, [])
    keep = [x.source for x in said if x.source != "transcript"]
    keep = [m for m in keep if m != "face" or any(x.specific for x in said if x.source == "face")]
    return list(dict.fromkeys(keep))


_TERM = re.compile(r"^[A-Za-z][A-Za-z' -]*$")
#: words a small model puts in ``terms`` that are not emotion terms
_NOT_TERMS = {"face", "voice", "words", "transcript", "speech", "none", "null", "emotion"}


def terms(emotion: dict[str, Any]) -> list[str]:
    """The model's open-vocabulary terms, without blanks, repeats and non-terms ("face")."""
    out = []
    for t in emotion.get("terms") or []:
        t = str(t).strip()
        if not _TERM.match(t) or t.lower() in _NOT_TERMS:
            continue  # "", "+0.79", "face"
        if t.lower() not in {x.lower() for x in out}:
            out.append(t)
    return out


def _listed(names: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _cues(ev: Evidence, *ids: str) -> list[str]:
    return [c for c in ids if c in ev.cues]


def _subject(ev: Evidence) -> str:
    """'a woman who appears 26-48 years old', from the measured age and gender; 'a person'."""
    tid = ev.main_track or ""
    gender = ev.genders.get(tid, ("", 0.0))[0]
    who = {"female": "a woman", "male": "a man"}.get(gender, "a person")
    age = ev.ages.get(tid)
    if not age:
        return who
    lo, hi = round(age[1]), round(age[2])
    return f"{who} who appears {lo}-{hi} years old" if lo != hi else f"{who} of about {lo}"


def expressions(ev: Evidence, cfg: AnnotateConfig) -> list[dict[str, Any]]:
    """The main face's dominant expression (unless neutral) and the voice, as the tree's
    expressions."""
    lim = cfg.limits
    top = _top_face(ev, cfg.min_claimed_score)
    out = [
        e
        for e in notes.perceiver(ev, cfg.min_claimed_score)["expressions"]
        if e["track"] == ev.main_track and top and top[0] != "neutral"
        if e["description"].startswith(f"{top[0]} ")
    ]
    if ev.has_speech(cfg.silence_ratio) and "voice.arousal" in ev.cues:
        out.append(
            {
                "modality": "vocal",
                "track": "",
                "description": f"the voice is {_voice_said(ev)}",
                "start_s": 0.0,
                "end_s": round(ev.duration_s, 2),
                "cues": ["voice.arousal"],
            }
        )
    for e in out:
        e["description"] = e["description"][: lim.description_chars]
        e["cues"] = e["cues"][: lim.max_cues]
    return out[: lim.max_expressions]


def rationale(ev: Evidence, emotion: dict[str, Any], cfg: AnnotateConfig) -> list[dict[str, Any]]:
    """Steps from what each modality measured to the chosen label, each citing its cues."""
    lim = cfg.limits
    label = emotion.get("label") or cfg.neutral_label
    steps: list[dict[str, Any]] = []
    speech = ev.has_speech(cfg.silence_ratio)
    if not ev.has_face() and not speech:
        steps.append(
            {
                "claim": "Nobody is visible and nothing is said, so nothing in the clip "
                "carries an emotion.",
                "cues": _cues(ev, "faces.count", "speech.ratio"),
            }
        )
    else:
        said = _words_said(ev) if speech else None
        if said:
            cues = _cues(ev, "words.valence", "words.emotions")
            if "words" not in _supporters(label, ev, cfg):
                cues = _cues(ev, "speech.transcript", "words.valence")
            steps.append({"claim": f"The transcript has {said}.", "cues": cues})
        voice = _voice_said(ev) if speech else None
        if voice:
            steps.append({"claim": f"The voice is {voice}.", "cues": ["voice.arousal"]})
        face = _face_said(ev, cfg.min_claimed_score)
        if face:
            tid = ev.main_track
            steps.append({"claim": f"The {face}.", "cues": _cues(ev, f"face.{tid}.expression")})
    # the conflict field names a disagreement (conflict_explained): the conclusion cites
    # the modalities it names, as many as a step may cite
    supporters = [m for m in _supporters(label, ev, cfg) if f"modality.{m}" in ev.cues]
    supporters = supporters[: lim.max_cues]  # it names no modality it does not cite
    top = _top_face(ev, cfg.min_claimed_score)
    if supporters:
        why = _listed([_NAMES[m] for m in supporters])
        cited = [f"modality.{m}" for m in supporters]
        claim = f"So the clip reads as {label}, supported by {why}."
    elif top is not None and top[0] == label:
        cited = _cues(ev, f"face.{ev.main_track}.expression")
        claim = f"So the clip reads as {label}, supported by the face's expression scores."
    elif speech and "speech.transcript" in ev.cues:
        cited = ["speech.transcript"]
        claim = f"So the clip reads as {label}, from what the transcript says."
    else:
        cited = []
        claim = f"So the clip reads as {label}; nothing measured speaks against it."
    end = {"claim": claim, "cues": cited or _cues(ev, "clip.duration")}
    if not ev.has_face() and not speech:
        end["claim"] = f"So the clip is labelled {label}, with low confidence."
    steps = [*[s for s in steps if s["cues"]][: max(lim.max_steps - 1, 0)], end]
    for s in steps:
        s["claim"] = s["claim"][: lim.claim_chars]
        s["cues"] = s["cues"][: lim.max_cues]
    return steps[-lim.max_steps :]


def conflict(ev: Evidence, emotion: dict[str, Any], cfg: AnnotateConfig) -> str:
    """The measured disagreement and which modalities the label follows; '' without one."""
    conflicts = ev.modality.conflicts
    if not conflicts:
        return ""
    parts = []
    for c in conflicts:
        a, b = c.modalities
        va, vb = (float(c.values[m]) for m in (a, b))
        parts.append(f"{_NAMES[a]} ({c.dimension} {va:+.2f}) and {_NAMES[b]} ({vb:+.2f})")
    label = emotion.get("label") or cfg.neutral_label
    follows = _supporters(label, ev, cfg)
    text = "; ".join(parts) + " disagree"
    text += (
        f"; the label {label} follows " + " and ".join(_NAMES[m] for m in follows) + "."
        if follows
        else f"; the label {label} follows the reading of the words."
    )
    return text[: cfg.limits.text_chars]


def caption(ev: Evidence, emotion: dict[str, Any], cfg: AnnotateConfig) -> str:
    """Who is seen, how face and voice come across, what the words carry, and the emotion."""
    label = emotion.get("label") or cfg.neutral_label
    speech = ev.has_speech(cfg.silence_ratio)
    if not ev.has_face() and not speech:
        picture = _picture(ev)
        text = (
            f"Nobody is visible and nothing is said in this {ev.duration_s:.0f}-second clip"
            + (f"; the picture is {picture}" if picture else "")
            + f". With nothing to read an emotion from, it is labelled {label}."
        )
        return text[: cfg.limits.caption_words[1] * cfg.limits.chars_per_word]
    sentences = []
    who = _subject(ev) if ev.has_face() else "someone who is not seen"
    action = "speaks" if speech else "is silent"
    sentences.append(f"In this {ev.duration_s:.0f}-second clip, {who} {action}.")
    face = _face_said(ev, cfg.min_claimed_score, name="face")
    if face:
        sentences.append(f"The {face.split(' (')[0]}.")
    voice = _voice_said(ev) if speech else None
    if voice:
        sentences.append(f"The voice is {voice.split(' (')[0]}.")
    said = _words_said(ev) if speech else None
    if said:
        sentences.append(f"What is said has {said.split(' (')[0]}{_words_tail(said)}.")
    shown = [t for t in terms(emotion) if t != label][:2]
    feel = f"{label} ({', '.join(shown)})" if shown else label
    sentences.append(
        f"Overall the person comes across as {feel}, with valence "
        f"{float(emotion.get('valence') or 0.0):+.1f} and arousal "
        f"{float(emotion.get('arousal') or 0.0):+.1f}."
    )
    return " ".join(sentences)[: cfg.limits.caption_words[1] * cfg.limits.chars_per_word]


def _words_tail(said: str) -> str:
    return said[said.index(" with ") :] if " with " in said else ""


def qa(tree: dict[str, Any], ev: Evidence, cfg: AnnotateConfig) -> list[dict[str, str]]:
    """One pair of each of Emo-CFG's kinds: attribute, expression, emotion and reasoning."""
    lim = cfg.limits
    emo = tree.get("emotion") or {}
    label = emo.get("label") or cfg.neutral_label
    pairs: list[tuple[str, str, str]] = []
    attrs = [
        a
        for a in tree.get("attributes") or []
        if a.get("age_range") or a.get("gender_presentation")
    ]
    if attrs:
        a = attrs[0]
        answer = "The person presents as " + (a.get("gender_presentation") or "unknown")
        ages = a.get("age_range", "").split("-")
        if len(ages) == 2 and ages[0] == ages[1]:
            answer += f" and appears about {ages[0]} years old"
        elif a.get("age_range"):
            answer += f" and appears {a['age_range']} years old"
        question = "What are the apparent age and gender presentation of the person?"
        pairs.append(("attribute", question, answer + "."))
    else:
        picture = _picture(ev)
        pairs.append(
            (
                "attribute",
                "What does the scene look like?",
                (f"The picture is {picture}" if picture else "It is a plain scene")
                + (", and nobody is visible." if not ev.has_face() else "."),
            )
        )
    shown = tree.get("expressions") or []
    if shown:
        e = shown[0]
        pairs.append(
            (
                "expression",
                "Which expression shows in the clip, and when?",
                f"{e['description'][0].upper()}{e['description'][1:]}, from "
                f"{float(e['start_s']):.1f} s to {float(e['end_s']):.1f} s.",
            )
        )
    else:
        pairs.append(
            (
                "expression",
                "Which expression shows in the clip?",
                "No clear expression was measured.",
            )
        )
    pairs.append(
        (
            "emotion",
            "Which emotion does the clip convey?",
            f"{label.capitalize()}, with valence {float(emo.get('valence') or 0.0):+.1f} and "
            f"arousal {float(emo.get('arousal') or 0.0):+.1f}.",
        )
    )
    steps = [s["claim"] for s in tree.get("rationale") or []]
    reason = " ".join(steps) or f"Nothing contradicts {label}."
    if tree.get("conflict"):
        reason += " " + tree["conflict"][0].upper() + tree["conflict"][1:]
    pairs.append(("reasoning", f"Why is the emotion {label}?", reason))
    out = [
        {"kind": k, "question": q[: lim.question_chars], "answer": a[: lim.answer_chars]}
        for k, q, a in pairs
    ]
    return out[: lim.qa_pairs[1]]
