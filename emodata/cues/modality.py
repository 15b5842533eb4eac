"""Per-modality affect summary (face, voice, words) and where the modalities disagree.

Each modality reports only what was measured:
- face: the main track's mean FER2013 scores as a label distribution, and valence/arousal as
  the score-weighted mean of each label's place on Russell's circumplex (``CIRCUMPLEX``; a
  fixed convention, not a measurement of its own);
- voice: vocal arousal (emodata.cues.arousal); valence unknown, no label;
- words: VADER valence and the NRC emotion shares; arousal unknown.

Two modalities conflict on a dimension when both measured it, their values have opposite
signs, each is at least ``min_level`` away from 0 and they are at least ``min_gap`` apart: a
smiling face (face valence +0.4) reading "I miss the old house" (words valence -0.45) is a
conflict on valence between face and words.
"""

from __future__ import annotations

import itertools

from emodata.cues.record import Conflict, Modality, ModalityAffect, WordsCues

# (valence, arousal) of each FER2013 label, after Russell (1980) and Posner et al. (2005).
CIRCUMPLEX = {
    "angry": (-0.6, 0.7),
    "disgust": (-0.6, 0.3),
    "fear": (-0.6, 0.6),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4),
    "surprise": (0.2, 0.8),
    "neutral": (0.0, 0.0),
}
MODALITIES = ("face", "voice", "words")
CUES = {
    "summary": "per modality (face, voice, words): label distribution and valence/arousal in "
    "[-1, 1] where measured; face valence/arousal = FER scores x circumplex positions",
    "conflict": "pairs of modalities whose valence (or arousal) have opposite signs, each "
    ">= min_level from 0 and >= min_gap apart",
}


def face_affect(expression_mean: dict[str, float] | None) -> ModalityAffect | None:
    if not expression_mean:
        return None
    total = sum(expression_mean.values()) or 1.0
    dist = {k: round(v / total, 3) for k, v in expression_mean.items()}
    valence = sum(p * CIRCUMPLEX[k][0] for k, p in dist.items() if k in CIRCUMPLEX)
    arousal = sum(p * CIRCUMPLEX[k][1] for k, p in dist.items() if k in CIRCUMPLEX)
    return ModalityAffect(
        labels=dist,
        top=max(dist, key=dist.get),
        valence=round(valence, 3),
        arousal=round(arousal, 3),
    )


def summarise(
    face: dict[str, float] | None,
    voice_arousal: float | None,
    words: WordsCues | None,
    min_level: float = 0.2,
    min_gap: float = 0.5,
) -> Modality:
    """Face, voice and words' affect (a modality that measured nothing is None), the
    conflicts between them and which were measured."""
    out = Modality(
        face=face_affect(face),
        voice=None if voice_arousal is None else ModalityAffect(arousal=voice_arousal),
    )
    if words is not None and words.valence is not None:
        out.words = ModalityAffect(
            labels=words.emotions or None, top=words.top_emotion, valence=words.valence
        )
    for dim in ("valence", "arousal"):
        for a, b in itertools.combinations(MODALITIES, 2):
            ma, mb = out.get(a), out.get(b)
            va = None if ma is None else getattr(ma, dim)
            vb = None if mb is None else getattr(mb, dim)
            if va is None or vb is None:
                continue
            if va * vb < 0 and min(abs(va), abs(vb)) >= min_level and abs(va - vb) >= min_gap:
                out.conflicts.append(Conflict(dim, [a, b], {a: va, b: vb}))
    out.conflict = bool(out.conflicts)
    out.measured = [m for m in MODALITIES if out.get(m) is not None]
    return out
