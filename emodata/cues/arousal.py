"""Vocal arousal in [-1, 1] from the clip's prosody (emodata.cues.audio).

Aroused speech is louder, higher, more varied in pitch and faster (Banse & Scherer 1996;
Juslin & Laukka 2003). Each available measure becomes a z-like score against a reference for
calm conversational speech, pitch measures relative to the speaker:

    z_loud  = (loudness_db - (-26 dBFS)) / 6 dB
    z_pitch = 12 log2(f0_median / f0_ref) / 4 semitones,
              f0_ref = 120 Hz (male presentation), 210 Hz (female), 165 Hz (unknown)
    z_range = (f0_iqr_st - 3 semitones) / 2 semitones
    z_rate  = (speech_rate_wps - 2.5) / 0.75 words per voiced second
    arousal = tanh(mean of the available z, each clipped to [-3, 3]), needing loudness and
              a pitch (a voice)

The pitch reference follows the speaker's register (the main face's measured gender
presentation when there is one), so a deep voice is not "calm" nor a high one "excited" by
nature; the pitch range is in semitones for the same reason. Loudness depends on the
recording's gain, so arousal compares best between clips of one source.
"""

from __future__ import annotations

import math

from emodata.cues.record import AudioCues, VoiceCues

F0_REF_HZ = {"male": 120.0, "female": 210.0, None: 165.0}
CUES = {
    "arousal": "vocal arousal, tanh of the mean of loudness, pitch level (vs the speaker's "
    "register), pitch range and speech rate z-scores (formula in emodata.cues.arousal), "
    "-1 (calm) to 1 (excited)",
}


def components(audio: AudioCues, speaker_gender: str | None = None) -> dict[str, float]:
    """The z-scores of the measures that were measured (rounded)."""
    z: dict[str, float] = {}
    if audio.loudness_db is not None:
        z["loudness"] = (float(audio.loudness_db) + 26.0) / 6.0
    if audio.f0_median_hz:
        ref = F0_REF_HZ.get(speaker_gender, F0_REF_HZ[None])
        z["pitch_level"] = 12 * math.log2(float(audio.f0_median_hz) / ref) / 4.0
    if audio.f0_iqr_st is not None:
        z["pitch_range"] = (float(audio.f0_iqr_st) - 3.0) / 2.0
    if audio.speech_rate_wps:
        z["speech_rate"] = (float(audio.speech_rate_wps) - 2.5) / 0.75
    return {k: round(max(-3.0, min(3.0, v)), 3) for k, v in z.items()}


def vocal_arousal(audio: AudioCues, speaker_gender: str | None = None) -> VoiceCues:
    """The arousal (None without loudness and a pitch), its z-scores and the pitch reference."""
    z = components(audio, speaker_gender)
    ref = F0_REF_HZ.get(speaker_gender, F0_REF_HZ[None])
    if "loudness" not in z or "pitch_level" not in z:
        return VoiceCues(arousal=None, components=z, f0_ref_hz=ref)
    value = math.tanh(sum(z.values()) / len(z))
    return VoiceCues(arousal=round(value, 3), components=z, f0_ref_hz=ref)
