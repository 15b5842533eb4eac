"""Human review of a run's samples: a decision store, a queue over the index, export to a release.

The Streamlit app (``annotator_ui/``) is a thin layer over these modules, so everything that
matters (filters, conflicts, agreement, what a release contains) is testable as plain Python.
"""

from __future__ import annotations

UI_EXTRA_HINT = "the review app needs streamlit: install emodata[ui]"


def require_streamlit() -> None:
    """Fail with the extra to install, not an ImportError from deep inside the app."""
    import importlib.util

    if importlib.util.find_spec("streamlit") is None:
        raise ImportError(UI_EXTRA_HINT)
