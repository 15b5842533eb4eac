"""Documents: to_dict and from_dict derived from a dataclass's fields, hints and metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from emodata.document import NOT_NULL, OPTIONAL, SPREAD, Document


@dataclass
class Part(Document):
    name: str
    score: float | None = None
    hits: int = field(default=0, metadata=NOT_NULL)


@dataclass
class Whole(Document):
    label: str = ""
    ok: bool = False
    part: Part | None = None
    parts: list[Part] = field(default_factory=list)
    points: list[list[float]] | None = None
    runs: dict[str, list[int]] = field(default_factory=dict)
    note: str | None = field(default=None, metadata=OPTIONAL)
    extra: dict[str, Any] = field(default_factory=dict, metadata=SPREAD)


def test_a_document_is_written_in_field_order_and_reads_back_unchanged():
    doc = {
        "label": "a",
        "ok": True,
        "part": {"name": "p", "score": 1, "hits": 2},
        "parts": [{"name": "q", "score": None, "hits": 0}],
        "points": [[1, 2.5], None],
        "runs": {"x": [2, 1]},
        "note": "",
        "landmarks68": [[0, 0]],
    }
    w = Whole.from_dict(doc)
    assert w.part == Part("p", 1, 2) and w.extra == {"landmarks68": [[0, 0]]}
    assert json.dumps(w.to_dict()) == json.dumps(doc)  # an int stays an int, a null null
    # lists and dicts are copied: the record does not share them with a document
    assert w.points is not doc["points"] and w.runs["x"] is not doc["runs"]["x"]
    assert w.to_dict()["runs"]["x"] is not w.runs["x"]


def test_missing_null_unknown_and_misshapen_keys():
    w = Whole.from_dict(
        {
            "label": None,
            "ok": None,
            "part": "p",
            "parts": [{"name": 3, "hits": None, "newer": 1}, "junk", None, {}],
            "points": "x",
            "runs": {"x": None, "y": [1]},
            "newer": 1,
        }
    )
    assert (w.label, w.ok, w.part, w.points, w.note) == ("", False, None, None, None)
    # text, NOT_NULL, a required field missing, a newer key left out, the non-dicts skipped
    assert w.parts == [Part("3"), Part("")]
    assert w.runs == {"y": [1]} and w.extra == {"newer": 1}
    assert "note" not in w.to_dict() and Whole.from_dict(None) == Whole()
    assert Whole(note="n").to_dict()["note"] == "n"
