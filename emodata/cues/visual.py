"""Per-clip visual cues from the sampled frames (RGB uint8)."""

from __future__ import annotations

import itertools

import numpy as np

from emodata.cues.record import VisualCues

CUES = {
    "brightness": "mean Rec.601 luma over all frames, 0 (black) to 1 (white)",
    "colorfulness": "Hasler & Suesstrunk (2003) colourfulness, mean over frames (0 = grey; "
    "> 100 very colourful)",
    "hue_mean_deg": "circular mean hue of pixels with saturation > 0.2, degrees [0, 360)",
    "hue_spread": "1 - mean resultant length of those hues: 0 one hue, 1 hues everywhere",
    "motion": "mean absolute difference of consecutive grey frames, 0 to 1 per frame step",
}


def brightness(frames: list[np.ndarray]) -> float:
    luma = [f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114 for f in frames]
    return float(np.mean([m.mean() for m in luma]) / 255.0)


def colorfulness(frames: list[np.ndarray]) -> float:
    out = []
    for f in frames:
        r, g, b = (f[..., i].astype(np.float64) for i in range(3))
        rg, yb = r - g, 0.5 * (r + g) - b
        out.append(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    return float(np.mean(out))


def hue_stats(frames: list[np.ndarray]) -> tuple[float | None, float | None]:
    import cv2

    angles = []
    for f in frames:
        hsv = cv2.cvtColor(f, cv2.COLOR_RGB2HSV)
        sat = hsv[..., 1] / 255.0
        angles.append(hsv[..., 0][sat > 0.2].astype(np.float64) * 2.0)  # OpenCV hue is 0..179
    a = np.radians(np.concatenate(angles)) if angles else np.zeros(0)
    if a.size == 0:
        return None, None
    c, s = np.cos(a).mean(), np.sin(a).mean()
    return float(np.degrees(np.arctan2(s, c)) % 360), float(1 - np.hypot(c, s))


def motion(frames: list[np.ndarray]) -> float:
    if len(frames) < 2:
        return 0.0
    grey = [f.mean(axis=2) / 255.0 for f in frames]
    return float(np.mean([np.abs(a - b).mean() for a, b in itertools.pairwise(grey)]))


def visual_cues(frames: list[np.ndarray]) -> VisualCues:
    if not frames:
        return VisualCues()
    hue, spread = hue_stats(frames)
    return VisualCues(
        brightness=round(brightness(frames), 4),
        colorfulness=round(colorfulness(frames), 2),
        hue_mean_deg=None if hue is None else round(hue, 1),
        hue_spread=None if spread is None else round(spread, 4),
        motion=round(motion(frames), 4),
    )
