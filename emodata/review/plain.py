"""Text from data, URLs and reviewers, made safe to pass to Streamlit's Markdown.

Nearly every Streamlit element renders Markdown (``st.error``, ``st.caption``, ``st.metric``
values, widget labels, image captions), and Markdown can load images and show links: a
transcript, a caption, a sample key in the URL or a reviewer's name that carries
``![i](http://...)`` would make every reviewer's browser fetch that image and show that link.
:func:`md` backslash-escapes every ASCII punctuation character (CommonMark lets any of them be
escaped), which leaves no image, link, HTML, heading, list, LaTeX or colour directive for the
renderer to find. GitHub-flavoured Markdown also turns bare URLs and e-mail addresses into
links, after escapes are resolved, so no escape stops it: an invisible word joiner (U+2060)
inside ``http:``, ``www.`` and before ``@`` does. The text shows as it was written.
"""

from __future__ import annotations

import re
import string

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_AUTOLINK = re.compile(r"(?i)(https?|ftp|www)(?=[:.])|(?=@)")
WORD_JOINER = "\u2060"


def md(value: object) -> str:
    """``value`` as Markdown that renders as its literal text (plus invisible word joiners)."""
    text = _AUTOLINK.sub(lambda m: (m.group(1) or "") + WORD_JOINER, str(value))
    return _PUNCTUATION.sub(r"\\\1", text)
