"""Face detection, 5-point alignment, tracking and quality, behind one backend interface."""
