"""emodata: explainable, emotion-centric video datasets built on Ray."""

from __future__ import annotations

__version__ = "0.1.0"
