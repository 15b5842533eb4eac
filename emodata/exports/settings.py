"""Typed settings of ``emodata export`` (``--set identity.dlib_max_distance=0.55``).

Declared like the run config's sections (:mod:`emodata.config`): pydantic models that refuse
unknown fields, so a typo names the field instead of being ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emodata.config import _format, _set_dotted, parse_override
from emodata.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IdentityConfig(_Section):
    dlib_max_distance: float = Field(
        0.6, gt=0, description="dlib-resnet-128: the same person within this euclidean distance."
    )
    arcface_min_cosine: float = Field(
        0.4, ge=-1, le=1, description="arcface-512: the same person at this cosine or above."
    )
    block: int = Field(
        2048, ge=16, description="Rows per distance block (memory: block x tracks floats)."
    )


class NearDupConfig(_Section):
    max_hamming: int = Field(
        10, ge=0, le=32, description="Two frames match within this many differing dHash bits."
    )
    min_share: float = Field(
        0.6, gt=0, le=1, description="Share of the shorter clip's frames that must match."
    )
    probe_radius: int = Field(
        1, ge=0, le=3, description="Bit flips probed per 16-bit band when finding candidates."
    )
    max_bucket: int = Field(
        2000, ge=10, description="A band value shared by more frames is not expanded."
    )


class ReleaseConfig(_Section):
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    near_dup: NearDupConfig = Field(default_factory=NearDupConfig)


def load_release_config(sets: list[str] | tuple[str, ...] = ()) -> ReleaseConfig:
    """Defaults with ``KEY=VALUE`` overrides (values are YAML scalars)."""
    tree: dict[str, Any] = {}
    for text in sets:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    try:
        return ReleaseConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(_format(e)) from None
