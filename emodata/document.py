"""Typed records as JSON documents: ``to_dict`` and ``from_dict`` derived from the dataclass.

The stages' sub-records of a clip (``faces``, ``cues``, ``annotation``, down to their smallest
parts) are dataclasses deriving from :class:`Document`. Each field is a key of the document,
written in field order as JSON: nested documents through their own ``to_dict``, lists and
dicts copied. ``from_dict`` reads a document back by each field's type hint:

- a document (``X`` or ``X | None``) reads from a dict, and anything else gives the default;
- a list or dict is copied and anything else gives the default. A list's documents read from
  dicts (anything else among them is skipped: a string among the tracks) and its other
  elements stay as written, in their places; a dict's values read by these rules, those of the
  wrong shape skipped;
- ``str`` is text (``str(value)``, "" for null) and ``bool`` is ``bool(value)``;
- anything else (numbers, ``str | None``) is kept as written: an int stays an int, a null null.

A missing key gives the field's default (what a null reads as for a field without one); keys
no field has (a newer writer's) are left out. Field metadata marks the few keys that differ:
``OPTIONAL`` is written only when not None (absent, not null, otherwise), ``SPREAD`` is a dict
written beside the fixed keys that reads back every key no field has, and a null ``NOT_NULL``
reads as the default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from functools import cache
from types import MappingProxyType
from typing import Any, Self

_KIND = "document"
#: field metadata: a key written only when its value is not None
OPTIONAL = MappingProxyType({_KIND: "optional"})
#: field metadata: a dict whose keys are written beside the fixed ones (and read back from them)
SPREAD = MappingProxyType({_KIND: "spread"})
#: field metadata: a null reads as the field's default
NOT_NULL = MappingProxyType({_KIND: "not_null"})

_WRONG = object()  # a value of another shape than its type hint's

_Fn = Callable[[Any], Any]


class Document:
    """A dataclass that is a JSON document: ``to_dict`` and ``from_dict`` from its fields."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in _keys(type(self)):
            value = getattr(self, key.name)
            if key.kind == "spread":
                out.update(value)
            elif value is not None or key.kind != "optional":
                out[key.name] = key.write(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Self:
        """The record from ``to_dict`` output (a part of a sample JSON); None reads as {}."""
        data = data or {}
        keys = _keys(cls)
        values = {}
        for key in keys:
            if key.kind == "spread":
                fixed = {k.name for k in keys if k is not key}
                values[key.name] = {k: v for k, v in data.items() if k not in fixed}
            elif key.name in data:
                values[key.name] = key.read(data[key.name])
            else:
                values[key.name] = key.missing()
        return cls(**values)


@dataclasses.dataclass(frozen=True, slots=True)
class _Key:
    """How one field is written and read: by its type hint and its metadata's kind."""

    name: str
    kind: str | None  # the field's metadata: optional, spread or not_null
    field: dataclasses.Field
    write: _Fn
    shaped: _Fn | None  # reads a document, list or dict; None for other types
    text: bool  # a str field (not ``str | None``)
    flag: bool  # a bool field

    def default(self) -> Any:
        if self.field.default is not dataclasses.MISSING:
            return self.field.default
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return None

    def missing(self) -> Any:
        """A missing key's value: the default, or what a null reads as for a required field."""
        f = self.field
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            return self.read(None)
        return self.default()

    def read(self, value: Any) -> Any:
        if self.shaped is not None:
            got = self.shaped(value)
            return self.default() if got is _WRONG else got
        if self.text:
            return "" if value is None else str(value)
        if self.flag:
            return bool(value)
        if value is None and self.kind == "not_null":
            return self.default()
        return value


@cache
def _keys(cls: type) -> tuple[_Key, ...]:
    hints = typing.get_type_hints(cls)
    keys = []
    for f in dataclasses.fields(cls):
        hint, nullable = _without_none(hints[f.name])
        text, flag = hint is str and not nullable, hint is bool and not nullable
        kind = f.metadata.get(_KIND)
        keys.append(_Key(f.name, kind, f, _writer(hint), _reader(hint), text, flag))
    return tuple(keys)


def _reader(hint: Any) -> _Fn | None:
    """How a document, list or dict of type ``hint`` is read (``_WRONG`` for a value of another
    shape); None for any other type, whose values are kept as written."""
    hint, _ = _without_none(hint)
    origin = typing.get_origin(hint) or hint
    if _is_document(hint):

        def read_document(value: Any) -> Any:
            return hint.from_dict(value) if isinstance(value, dict) else _WRONG

        return read_document
    if origin is list:
        (item_hint,) = typing.get_args(hint) or (Any,)
        # a document is read from a dict (anything else is skipped); any other element is kept
        # as written, in its place (a point of a face's landmarks)
        item = _reader(item_hint) if _is_document(item_hint) else _as_is

        def read_list(value: Any) -> Any:
            if not isinstance(value, list):
                return _WRONG
            return [x for x in map(item, value) if x is not _WRONG]

        return read_list
    if origin is dict:
        _, item_hint = typing.get_args(hint) or (Any, Any)
        item = _reader(item_hint) or _as_is

        def read_dict(value: Any) -> Any:
            if not isinstance(value, dict):
                return _WRONG
            return {k: x for k, v in value.items() if (x := item(v)) is not _WRONG}

        return read_dict
    return None


def _writer(hint: Any) -> _Fn:
    """How a value of type ``hint`` is written: documents as dicts, lists and dicts copied as
    deep as the hint goes (an ``Any`` is written as it is, as are values of another type)."""
    hint, _ = _without_none(hint)
    origin = typing.get_origin(hint) or hint
    if _is_document(hint):
        return _write_document
    if origin is list:
        (item_hint,) = typing.get_args(hint) or (Any,)
        item = _writer(item_hint)

        def write_list(value: Any) -> Any:
            if not isinstance(value, list | tuple):
                return value
            return list(value) if item is _as_is else [item(v) for v in value]

        return write_list
    if origin is dict:
        _, item_hint = typing.get_args(hint) or (Any, Any)
        item = _writer(item_hint)

        def write_dict(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            return dict(value) if item is _as_is else {k: item(v) for k, v in value.items()}

        return write_dict
    return _as_is


def _write_document(value: Any) -> Any:
    return value.to_dict() if isinstance(value, Document) else value


def _is_document(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Document)


def _without_none(hint: Any) -> tuple[Any, bool]:
    """``X`` and True for ``X | None``; ``hint`` and False otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not types.NoneType]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _as_is(value: Any) -> Any:
    return value
