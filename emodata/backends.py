"""Backends a stage runs its model on: one registry per family, one config model per backend.

A family (speech recognition for ``transcribe``, face detection for ``faces``, the LLMs of
``annotate.backends``) has a base config model with the fields every backend of it reads, and a
key that names the backend (``transcribe.backend: whisperx``, ``annotate.backends.NAME.kind:
vllm``). Each backend is a :class:`BackendSpec`: its kind, its config model (the base plus its own
fields, ``extra="forbid"``), a factory, what it needs installed and its checks before any work.
A section is validated by the model its kind names, so a field that belongs to another kind is
refused with the field and the kind named, as a typo is.

The built-in backends declare themselves in their own modules, imported on first use. A backend
from elsewhere is a module that registers it when imported: name it in the run config's
``plugins`` (docs/extending.md, "Adding a backend").
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, SerializeAsAny, ValidationError, WrapValidator
from pydantic_core import InitErrorDetails, PydanticCustomError

from emodata.errors import ConfigError

if TYPE_CHECKING:
    from emodata.stages.registry import Requirement


@dataclass(frozen=True)
class BackendSpec:
    kind: str
    #: the backend's settings: a subclass of the family's base whose key field defaults to ``kind``
    config: type[BaseModel]
    #: makes the backend from its config; runs where the backend runs (a worker), so a model
    #: loads in the backend's own ``load``/``setup``, not here
    build: Callable[[Any], Any]
    #: modules the backend imports, each with the extra that installs it
    requires: tuple[Requirement, ...] = ()
    #: checks on the driver before any work (model files present, settings that go together);
    #: raise ConfigError
    preflight: Callable[[Any], None] | None = None
    #: preparation on the driver before any worker starts, with the family's arguments
    #: (annotate: ``prepare(config, ctx)`` with an ``emodata.annotate.session.Preparing``)
    prepare: Callable[..., None] | None = None


class BackendFamily:
    """The backends of one family, by kind, and the validator of a section that names one."""

    def __init__(
        self,
        name: str,
        base: type[BaseModel],
        key: str,
        default: str,
        builtins: tuple[str, ...],
    ) -> None:
        self.name = name
        self.base = base
        #: the field that names the backend (``backend`` or ``kind``)
        self.key = key
        self.default_kind = default
        self._builtins = builtins
        self._loaded = False
        self._specs: dict[str, BackendSpec] = {}
        #: a section's type: validated by its kind's model, dumped with that model's fields
        self.section = Annotated[SerializeAsAny[base], WrapValidator(self._validate)]

    def register(self, spec: BackendSpec) -> BackendSpec:
        """Add a backend; the same kind twice is an error unless it is the same spec (a module
        imported again)."""
        where = f"{self.name} backend {spec.kind!r}"
        if not (isinstance(spec.config, type) and issubclass(spec.config, self.base)):
            raise ConfigError(f"{where}: its config must subclass {self.base.__name__}")
        field = spec.config.model_fields.get(self.key)
        if field is None or field.default != spec.kind:
            raise ConfigError(f"{where}: its config's `{self.key}` must default to {spec.kind!r}")
        if spec.config.model_config.get("extra") != "forbid":
            raise ConfigError(f"{where}: its config must forbid extra fields (extra='forbid')")
        known = self._specs.get(spec.kind)
        if known is not None and known != spec and known.build is not spec.build:
            raise ConfigError(f"{where} is registered twice")
        self._specs[spec.kind] = spec
        return spec

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._builtins:
                importlib.import_module(module)

    def kinds(self) -> list[str]:
        self._load()
        return sorted(self._specs)

    def get(self, kind: str) -> BackendSpec:
        self._load()
        spec = self._specs.get(kind)
        if spec is None:
            raise ConfigError(self._unknown(kind))
        return spec

    def _unknown(self, kind: Any) -> str:
        return (
            f"unknown {self.key} {kind!r}; known: {', '.join(self.kinds())} (a plugin's "
            f"{self.key} needs its module in `plugins`)"
        )

    def default(self) -> BaseModel:
        """The default backend's config, with its defaults."""
        return self.get(self.default_kind).config()

    def parse(self, data: Any) -> BaseModel:
        """Settings (a mapping, or a model) -> the config model of the kind they name, its
        defaults filled in. A ValidationError names each bad field, and for a field the kind
        does not have, the kind (and the kinds that have it)."""
        self._load()
        if isinstance(data, BaseModel):
            spec = self._specs.get(getattr(data, self.key, None))
            if spec is not None and isinstance(data, spec.config):
                return data
            data = data.model_dump()
        if data is None:
            data = {}
        kind = self.default_kind
        if isinstance(data, dict):
            kind = data.get(self.key, kind)
        spec = self._specs.get(kind) if isinstance(kind, str) else None
        if spec is None:
            error = PydanticCustomError("unknown_backend", "{why}", {"why": self._unknown(kind)})
            raise ValidationError.from_exception_data(
                self.base.__name__, [InitErrorDetails(type=error, loc=(self.key,), input=kind)]
            )
        try:
            return spec.config.model_validate(data)
        except ValidationError as e:
            raise self._explain(e, spec) from None

    def _validate(self, value: Any, handler: Any) -> BaseModel:
        return self.parse(value)

    def _explain(self, err: ValidationError, spec: BackendSpec) -> ValidationError:
        """The same errors, a field the kind does not have said so by kind."""
        lines: list[InitErrorDetails] = []
        for e in err.errors():
            msg = e["msg"]
            if e["type"] == "extra_forbidden" and len(e["loc"]) == 1:
                msg = self._not_a_field(str(e["loc"][0]), spec)
            error = PydanticCustomError(e["type"], "{msg}", {"msg": msg})
            lines.append(InitErrorDetails(type=error, loc=e["loc"], input=e["input"]))
        return ValidationError.from_exception_data(err.title, lines)

    def _not_a_field(self, field: str, spec: BackendSpec) -> str:
        msg = f"not a field of {self.key} {spec.kind}"
        owners = [k for k, s in sorted(self._specs.items()) if field in s.config.model_fields]
        if owners:
            has = "has" if len(owners) == 1 else "have"
            return f"{msg} ({self.key} {', '.join(owners)} {has} it)"
        close = difflib.get_close_matches(field, list(spec.config.model_fields), n=1)
        return f"{msg} (did you mean {close[0]!r}?)" if close else msg

    def switch(self, settings: dict[str, Any], kind: str) -> list[str]:
        """Before a section as read from a file (``settings``) is set to name ``kind``: remove
        the settings that only the kind it names has, and return their names. Nothing is removed
        when that kind is not registered (a plugin's, not imported yet): validation says what is
        wrong."""
        was = settings.get(self.key, self.default_kind)
        if was == kind or not isinstance(was, str) or was not in self.kinds():
            return []
        own = set(self._specs[was].config.model_fields) - set(self.base.model_fields)
        if kind in self._specs:
            own -= set(self._specs[kind].config.model_fields)
        dropped = sorted(k for k in settings if k in own)
        for k in dropped:
            del settings[k]
        return dropped

    def build(self, config: BaseModel) -> Any:
        """The backend a config names, made by its factory. A config of the family's base
        (``FacesConfig()``) carries no field of its kind's own: it is read with their defaults."""
        spec = self.get(getattr(config, self.key))
        return spec.build(config if isinstance(config, spec.config) else self.parse(config))

    def check(self, config: BaseModel, where: str) -> None:
        """On the driver before any work: the backend's modules installed (else the ``pip
        install`` line that fixes it), then its preflight."""
        from emodata.stages.registry import check_requirements

        spec = self.get(getattr(config, self.key))
        check_requirements(f"{where}: {self.key} {spec.kind}", spec.requires)
        if spec.preflight is not None:
            spec.preflight(config)
