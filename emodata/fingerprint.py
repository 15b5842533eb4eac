"""Perceptual frame hashes: a clip's near-duplicate signature.

dHash: the frame in grey, shrunk to 9x8 pixels (area averaging), one bit per horizontal
neighbour pair (is the right pixel brighter?), 64 bits as 16 hex digits. Re-encoding, rescaling
and small shifts in time change few bits; other content changes about half. The segment stage
stores the hashes of a clip's sampled frames (``frame_hashes``); ``emodata export`` computes them
from the ``frameNNN.jpg`` members for runs that predate them, with this same function.
"""

from __future__ import annotations

import numpy as np

#: hashes of frames without detail (one flat colour): they match every other flat frame
FLAT = frozenset({"0000000000000000", "ffffffffffffffff"})


def dhash(jpeg: bytes) -> str:
    """The 64-bit dHash of a JPEG frame, as 16 hex digits."""
    import cv2

    grey = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ValueError("not a decodable image")
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return f"{int(np.packbits(bits).view('>u8')[0]):016x}"


def frame_hashes(frames: list[bytes]) -> list[str]:
    """dHash of each frame, in order."""
    return [dhash(f) for f in frames]
