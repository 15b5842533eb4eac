"""The measured evidence of one clip, as a catalog of citable cues.

Agents see the clip through this catalog (``cue id: text``) and must cite cue ids in their
rationale; the critic checks every citation and every claim against the same numbers. Whatever
upstream stage did not run simply contributes no cues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emodata.cues.face import LABELS
from emodata.cues.record import AudioCues, Cues, Modality, VisualCues
from emodata.records import ClipRecord


@dataclass
class Evidence:
    duration_s: float
    cues: dict[str, dict[str, Any]] = field(default_factory=dict)
    speech_ratio: float | None = None  # None: not transcribed
    words: int = 0
    transcript: str = ""
    tracks: dict[str, dict[str, float]] = field(default_factory=dict)  # "t0" -> mean scores
    main_track: str | None = None
    faces_run: bool = False
    # track -> class -> (start_s, end_s) of the frames where that class scored highest
    spans: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    ages: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # age, low, high
    genders: dict[str, tuple[str, float]] = field(default_factory=dict)  # label, probability
    modality: Modality = field(default_factory=Modality)  # cues.modality, as measured

    def add(self, cue_id: str, text: str, value: Any = None) -> None:
        self.cues[cue_id] = {"text": text, "value": value}

    def silent(self, threshold: float) -> bool:
        return self.speech_ratio is not None and (self.speech_ratio < threshold or not self.words)

    def has_face(self) -> bool:
        return any(k.startswith("face.") for k in self.cues)

    def has_speech(self, threshold: float) -> bool:
        return self.speech_ratio is not None and not self.silent(threshold)

    def lines(self) -> str:
        return "\n".join(f"- {k}: {v['text']}" for k, v in self.cues.items())


def level(x: float, cuts: tuple[float, float], words: tuple[str, str, str]) -> str:
    return words[0] if x < cuts[0] else words[2] if x > cuts[1] else words[1]


def _visual(ev: Evidence, v: VisualCues) -> None:
    if v.brightness is not None:
        b = float(v.brightness)
        ev.add(
            "visual.brightness",
            f"{level(b, (0.3, 0.65), ('dark', 'moderate', 'bright'))} "
            f"image (mean luma {b:.2f} of 1)",
            b,
        )
    if v.colorfulness is not None:
        c = float(v.colorfulness)
        ev.add(
            "visual.colorfulness",
            f"{level(c, (15, 60), ('muted', 'some', 'vivid'))} colour (colourfulness {c:.0f})",
            c,
        )
    if v.motion is not None:
        m = float(v.motion)
        ev.add(
            "visual.motion",
            f"{level(m, (0.03, 0.12), ('still', 'some', 'strong'))} motion "
            f"between frames ({m:.3f})",
            m,
        )


def _audio(ev: Evidence, a: AudioCues) -> None:
    if a.loudness_db is not None:
        db = float(a.loudness_db)
        ev.add(
            "audio.loudness",
            f"{level(db, (-35, -18), ('quiet', 'normal', 'loud'))} ({db:.0f} dBFS)",
            db,
        )
    if a.f0_median_hz:
        f0 = float(a.f0_median_hz)
        iqr = float(a.f0_iqr_hz or 0)
        ev.add(
            "audio.pitch",
            f"median pitch {f0:.0f} Hz, spread {iqr:.0f} Hz "
            f"({level(iqr, (15, 45), ('flat', 'varied', 'very varied'))} intonation)",
            f0,
        )
    if a.speech_rate_wps:
        r = float(a.speech_rate_wps)
        ev.add(
            "audio.speech_rate",
            f"{level(r, (2.0, 3.5), ('slow', 'normal', 'fast'))} "
            f"speech ({r:.1f} words per voiced second)",
            r,
        )


def _faces(ev: Evidence, rec: ClipRecord) -> None:
    faces = rec.faces
    ev.faces_run = faces is not None
    tracks = faces.tracks if faces is not None else []
    if ev.faces_run:
        ev.add("faces.count", f"{len(tracks)} face track(s) in the clip", len(tracks))
    if faces is not None and faces.main_track is not None:
        ev.main_track = f"t{faces.main_track}"
    cues = rec.cues or Cues()
    for tr in tracks:
        tid = f"t{tr.id}"
        q = tr.quality
        main = " (main subject)" if tid == ev.main_track else ""
        ev.add(
            f"face.{tid}.presence",
            f"face {tid}{main} visible in {q.presence or 0:.0%} of frames, {q.size_px or 0:.0f} px",
            q.presence,
        )
        c = cues.track(tr.id)
        if c is None:
            continue
        scores = c.expression_mean or {}
        spans: dict[str, list[float]] = {}
        for point in c.series:
            probs = point.expression
            if probs and point.t is not None:
                top = LABELS[max(range(len(probs)), key=probs.__getitem__)]
                spans.setdefault(top, []).append(float(point.t))
        if spans:
            ev.spans[tid] = {k: (min(v), max(v)) for k, v in spans.items()}
        if scores:
            ev.tracks[tid] = {k: float(v) for k, v in scores.items()}
            top = sorted(scores.items(), key=lambda kv: -kv[1])[:3]
            ev.add(
                f"face.{tid}.expression",
                "facial expression scores " + ", ".join(f"{k} {v:.2f}" for k, v in top),
                scores,
            )
        for name, what in (
            ("mouth_open", "mouth opening"),
            ("brow_raise", "brow raise"),
            ("eye_open", "eye opening"),
        ):
            value = getattr(c, name)
            if value is not None:
                ev.add(f"face.{tid}.{name}", f"{what} {float(value):.2f}", value)
        app = c.apparent
        if app is None:
            continue
        if app.age is not None:
            lo, hi = app.age_range or (app.age, app.age)
            ev.ages[tid] = (float(app.age), float(lo), float(hi))
            ev.add(
                f"face.{tid}.age",
                f"apparent age {float(app.age):.0f} years (range {lo:.0f}-{hi:.0f}, "
                f"age network over {app.frames} frame(s))",
                app.age,
            )
        if app.gender:
            ev.genders[tid] = (str(app.gender), float(app.gender_prob or 0.0))
            ev.add(
                f"face.{tid}.gender",
                f"gender presentation {app.gender} (p {float(app.gender_prob or 0.0):.2f}, "
                "perceived)",
                app.gender,
            )


def _speech(ev: Evidence, rec: ClipRecord) -> None:
    tr = rec.transcript
    if tr is None:
        return
    ev.speech_ratio = tr.speech_ratio
    ev.words = len(tr.words)
    ev.transcript = tr.text.strip()
    ev.add("speech.ratio", f"speech in {ev.speech_ratio:.0%} of the clip", ev.speech_ratio)
    if ev.transcript:
        ev.add("speech.transcript", f"{ev.words} words, language {tr.language}", ev.transcript)


def signed(x: float, cut: float = 0.05) -> str:
    return "negative" if x < -cut else "positive" if x > cut else "neutral"


def _affect(ev: Evidence, cues: Cues) -> None:
    words = cues.words
    if words is not None and words.valence is not None:
        w = float(words.valence)
        ev.add("words.valence", f"{signed(w)} wording (VADER valence {w:+.2f})", w)
    if words is not None and words.emotions:
        top = sorted(words.emotions.items(), key=lambda kv: -kv[1])[:3]
        ev.add(
            "words.emotions",
            "emotion words (NRC lexicon, "
            f"{words.emotion_words} matched): " + ", ".join(f"{k} {v:.2f}" for k, v in top),
            words.emotions,
        )
    for seg in words.segments if words is not None else []:
        if seg.valence is None:
            continue
        ev.add(
            f"words.s{seg.segment}.valence",
            f"segment {seg.segment} ({float(seg.start or 0):.1f}-"
            f"{float(seg.end or 0):.1f} s): {signed(seg.valence)} wording "
            f"(VADER {float(seg.valence):+.2f})",
            seg.valence,
        )
    voice = cues.voice
    if voice is not None and voice.arousal is not None:
        a = float(voice.arousal)
        ev.add(
            "voice.arousal",
            f"{level(a, (-0.25, 0.25), ('calm', 'moderate', 'aroused'))} voice (vocal arousal "
            f"{a:+.2f} from loudness, pitch, pitch range and speech rate)",
            a,
        )
    m = cues.modality
    if m is None:
        return
    ev.modality = m
    for name in m.measured:
        mod = m.get(name)
        if mod is None:
            mod_dict: dict[str, Any] = {}
            parts = []
        else:
            mod_dict = m.summary(name) or {}
            parts = [
                f"{dim} {float(getattr(mod, dim)):+.2f}"
                for dim in ("valence", "arousal")
                if getattr(mod, dim) is not None
            ]
            if mod.top:
                parts.insert(0, f"mostly {mod.top}")
        # the cue's value is the summary as the sample JSON has it (it goes into the tree)
        ev.add(f"modality.{name}", f"{name}: " + ", ".join(parts), mod_dict)
    conflicts = m.conflicts
    text = (
        "; ".join(
            f"{c.dimension}: " + " vs ".join(f"{k} {float(v):+.2f}" for k, v in c.values.items())
            for c in conflicts
        )
        if conflicts
        else "no conflict between the measured modalities ("
        + (", ".join(m.measured) or "none")
        + ")"
    )
    ev.add(
        "modality.conflict",
        ("modalities disagree: " + text) if conflicts else text,
        [c.to_dict() for c in conflicts],
    )


def build(record: ClipRecord | dict[str, Any]) -> Evidence:
    """The evidence of one clip's record (or of its sample JSON, written next to the clip)."""
    if isinstance(record, dict):
        record = ClipRecord.from_dict(record)
    ev = Evidence(duration_s=float(record.clip.duration_s or 0.0))
    ev.add("clip.duration", f"{ev.duration_s:.1f} s long", ev.duration_s)
    cues = record.cues or Cues()
    _visual(ev, cues.visual)
    _speech(ev, record)
    _audio(ev, cues.audio)
    _faces(ev, record)
    _affect(ev, cues)
    return ev


__all__ = ["LABELS", "Evidence", "build"]
