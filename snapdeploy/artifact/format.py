"""Write and read the .snap artifact: one zip holding ``manifest.json`` and ``tensors.safetensors``.

An artifact is the hand-off between export and deploy, so it must never be half-written and
never be trusted blindly:

* **Atomic writes.** The whole file is built in memory, written to a temporary file in the
  target's directory, flushed and fsynced, then ``os.replace``-d onto the target. A crash or
  error leaves either the old file or the new one, never a mix; the temporary file is removed
  on every failure.
* **Verified reads.** Reading checks the container, each entry's zip CRC-32, the manifest's
  format name and schema version, that the manifest and the safetensors entry list the same
  tensors with the same dtype and shape, each tensor's sha256, and finally a hash of the whole
  file. Every failure is an :class:`ArtifactError` naming the file, what is wrong (the entry or
  tensor where it can) and the fix. Reading never writes.

Integrity data, exactly:

* ``manifest["tensors"][name]["sha256"]`` is the hex sha256 of the tensor's C-contiguous,
  little-endian raw bytes, i.e. exactly the bytes stored for it in ``tensors.safetensors``.
* The zip comment is fixed-length: ``snapdeploy-sha256:`` followed by the hex sha256 of every
  byte of the file before the comment. Entry CRCs do not cover zip headers (timestamps, file
  attributes, ...), so this stamp is what makes every single-byte change detectable. Entry-level
  checks run first so that errors name the damaged entry when they can; the stamp catches the
  rest.

Entries carry a fixed timestamp, so the same manifest and tensors always give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from snapdeploy.core.errors import ArtifactError
from snapdeploy.core.files import atomic_write

SCHEMA_VERSION: int = 1
FORMAT_NAME = "snapdeploy-artifact"
MANIFEST_ENTRY = "manifest.json"
TENSORS_ENTRY = "tensors.safetensors"
_ENTRIES = (MANIFEST_ENTRY, TENSORS_ENTRY)

_STAMP_PREFIX = b"snapdeploy-sha256:"
_STAMP_LENGTH = len(_STAMP_PREFIX) + 2 * hashlib.sha256().digest_size
_ENTRY_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_ARTIFACT_MODE = 0o644
_SUPPORTED_DTYPES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
    | {"float16", "float32", "float64"}
)
# zipfile reports a damaged container through many exception types, depending on which bytes
# are damaged: BadZipFile (headers, CRC), zlib.error (deflate stream), OSError / LZMAError (a
# compression method changed to bzip2 / lzma), EOFError and ValueError (sizes and offsets) and
# RuntimeError (the encrypted flag; its subclass NotImplementedError: unknown method, version or
# flag).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    OSError,
    EOFError,
    ValueError,
    RuntimeError,
)
# safetensors.numpy.load raises KeyError for dtypes it can parse but not map to numpy (e.g. BF16).
_SAFETENSORS_ERRORS = (SafetensorError, KeyError, ValueError)
_SAFETENSORS_RESERVED_NAME = "__metadata__"
#: The fix of every artifact that this version cannot read as it stands.
REEXPORT_FIX = "re-export the model with this snapdeploy version"


@dataclass(frozen=True)
class Artifact:
    """A verified artifact: its path, its manifest (as stored) and its tensors by name."""

    path: Path
    manifest: dict[str, Any]
    tensors: dict[str, np.ndarray]


def write_artifact(
    path: str | Path, manifest: dict[str, Any], tensors: dict[str, np.ndarray]
) -> Path:
    """Atomically write ``manifest`` and ``tensors`` as a .snap file at ``path``; return the path.

    The stored manifest is a copy of ``manifest`` with ``format``, ``schema_version`` and
    ``tensors`` (dtype, shape, sha256 per tensor) set by this function, replacing any values the
    caller gave for those keys. The manifest must be strict JSON (str keys; no NaN/inf; no
    numpy scalars). Everything is validated before the filesystem is touched; the parent
    directory is created if missing.
    """
    target = Path(path)
    stored = {name: _storable(target, name, array) for name, array in tensors.items()}
    full_manifest = {
        **manifest,
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "tensors": {name: _tensor_record(array) for name, array in stored.items()},
    }
    manifest_bytes = _encode_manifest(target, full_manifest)
    body = _zip_body(manifest_bytes, save_safetensors(stored))
    _write_file(target, body + _stamp(body))
    return target


def read_artifact(path: str | Path) -> Artifact:
    """Read and fully verify the .snap file at ``path``; raise ArtifactError if anything is off."""
    source = Path(path)
    data = _read_file(source)
    entries = _read_entries(source, data)
    manifest = _parse_manifest(source, entries[MANIFEST_ENTRY])
    _check_format(source, manifest)
    records = _tensor_records(source, manifest)
    tensors = _parse_tensors(source, entries[TENSORS_ENTRY])
    _check_tensors(source, records, tensors)
    _check_stamp(source, data)
    return Artifact(path=source, manifest=manifest, tensors=tensors)


def _error(path: Path, problem: str, fix: str) -> ArtifactError:
    return ArtifactError(f"{path}: {problem}; {fix}")


# --- writing -------------------------------------------------------------------------------


def _storable(path: Path, name: Any, array: Any) -> np.ndarray:
    """The C-contiguous little-endian array whose bytes are stored (and hashed) for ``name``."""
    if not isinstance(name, str) or name == _SAFETENSORS_RESERVED_NAME:
        raise _error(
            path,
            f"tensor name {name!r} cannot be stored",
            f"name every tensor with a str other than {_SAFETENSORS_RESERVED_NAME!r}",
        )
    if not isinstance(array, np.ndarray):
        kind = type(array).__name__
        raise _error(path, f"tensor {name!r} is a {kind}, not a numpy array", "pass np.ndarray")
    if array.dtype.name not in _SUPPORTED_DTYPES:
        raise _error(
            path,
            f"tensor {name!r} has dtype {array.dtype.name}, which artifacts cannot store",
            f"convert it to one of {', '.join(sorted(_SUPPORTED_DTYPES))}",
        )
    return np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")


def _tensor_record(array: np.ndarray) -> dict[str, Any]:
    return {"dtype": array.dtype.name, "shape": list(array.shape), "sha256": _sha256(array)}


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(array, order="C")).hexdigest()


def _encode_manifest(path: Path, manifest: dict[str, Any]) -> bytes:
    offender = _find_non_json(manifest, "manifest")
    if offender is not None:
        where, value = offender
        raise _error(
            path,
            f"{where} is not strict JSON (a {type(value).__name__}: {value!r:.60})",
            "use only dict (str keys), list, str, int, finite float, bool and None "
            "(numpy scalars: call .item())",
        )
    return json.dumps(manifest, indent=2, allow_nan=False).encode("utf-8")


def _find_non_json(value: Any, where: str) -> tuple[str, Any] | None:
    """Where (as an access path) the first value JSON cannot store exactly sits, or None."""
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (where, value)
    if isinstance(value, list | tuple):
        children = ((f"{where}[{index}]", item) for index, item in enumerate(value))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                return (f"key {key!r} in {where}", key)
        children = ((f"{where}[{key!r}]", item) for key, item in value.items())
    else:
        return (where, value)
    for child_where, child in children:
        offender = _find_non_json(child, child_where)
        if offender is not None:
            return offender
    return None


def _zip_body(manifest_bytes: bytes, tensor_bytes: bytes) -> bytes:
    """The zip's bytes up to, not including, its comment (which the stamp fills)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in zip(_ENTRIES, (manifest_bytes, tensor_bytes), strict=True):
            info = zipfile.ZipInfo(name, date_time=_ENTRY_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = _ARTIFACT_MODE << 16
            archive.writestr(info, payload)
        # A placeholder of the stamp's length, so the end record already declares that length.
        archive.comment = bytes(_STAMP_LENGTH)
    return buffer.getvalue()[:-_STAMP_LENGTH]


def _stamp(body: bytes) -> bytes:
    return _STAMP_PREFIX + hashlib.sha256(body).hexdigest().encode("ascii")


def _write_file(target: Path, data: bytes) -> None:
    try:
        atomic_write(target, data, mode=_ARTIFACT_MODE)
    except OSError as exc:
        raise _error(
            target,
            f"cannot write the artifact ({exc}); any old file at this path is unchanged",
            "check that the directory can be created, is writable and has free space",
        ) from exc


# --- reading -------------------------------------------------------------------------------


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise _error(path, "no such file", "check the path, or export the model first") from exc
    except OSError as exc:
        raise _error(path, f"cannot be read ({exc})", "check the path and its permissions") from exc


def _read_entries(path: Path, data: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise _error(
            path,
            f"is not a snapdeploy artifact: not a readable zip archive ({exc})",
            "pass a .snap file written by snapdeploy, or re-export it if it was damaged",
        ) from exc
    with archive:
        names = set(archive.namelist())
        for entry in _ENTRIES:
            if entry not in names:
                raise _error(
                    path,
                    f"is not a snapdeploy artifact or is damaged: it has no {entry!r} entry",
                    f"pass a .snap file written by snapdeploy, or {REEXPORT_FIX}",
                )
        return {entry: _read_entry(path, archive, entry) for entry in _ENTRIES}


def _read_entry(path: Path, archive: zipfile.ZipFile, entry: str) -> bytes:
    try:
        return archive.read(entry)
    except _ZIP_ERRORS as exc:
        raise _error(
            path,
            f"entry {entry!r} is corrupt ({exc})",
            f"the file was damaged after it was written; {REEXPORT_FIX}",
        ) from exc


def _parse_manifest(path: Path, payload: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(payload)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both derive from it
        problem = f"entry {MANIFEST_ENTRY!r} is not valid JSON ({exc})"
        raise _error(path, problem, REEXPORT_FIX) from exc
    if not isinstance(manifest, dict):
        raise _error(path, f"entry {MANIFEST_ENTRY!r} is not a JSON object", REEXPORT_FIX)
    return manifest


def _check_format(path: Path, manifest: dict[str, Any]) -> None:
    found_format = manifest.get("format")
    if found_format != FORMAT_NAME:
        raise _error(
            path,
            f"is not a snapdeploy artifact (manifest format is {found_format!r}, "
            f"expected {FORMAT_NAME!r})",
            "pass a .snap file written by snapdeploy",
        )
    version = manifest.get("schema_version")
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        found = "missing" if version is None else repr(version)
        raise _error(
            path,
            f"unsupported schema version: found {found}, this snapdeploy supports {SCHEMA_VERSION}",
            REEXPORT_FIX,
        )


def _tensor_records(path: Path, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    records = manifest.get("tensors")
    if not isinstance(records, dict):
        raise _error(path, "manifest has no 'tensors' object", REEXPORT_FIX)
    for name, record in records.items():
        if not _well_formed_record(record):
            raise _error(path, f"manifest record for tensor {name!r} is malformed", REEXPORT_FIX)
    return records


def _well_formed_record(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("dtype"), str)
        and isinstance(record.get("sha256"), str)
        and isinstance(record.get("shape"), list)
        and all(isinstance(dim, int) and not isinstance(dim, bool) for dim in record["shape"])
    )


def _parse_tensors(path: Path, payload: bytes) -> dict[str, np.ndarray]:
    try:
        return load_safetensors(payload)
    except _SAFETENSORS_ERRORS as exc:
        raise _error(
            path,
            f"entry {TENSORS_ENTRY!r} is not a readable safetensors file ({exc})",
            REEXPORT_FIX,
        ) from exc


def _check_tensors(
    path: Path, records: dict[str, dict[str, Any]], tensors: dict[str, np.ndarray]
) -> None:
    only_listed = sorted(records.keys() - tensors.keys())
    if only_listed:
        problem = f"tensor(s) {_names(only_listed)} in the manifest but not in {TENSORS_ENTRY!r}"
        raise _error(path, problem, REEXPORT_FIX)
    only_stored = sorted(tensors.keys() - records.keys())
    if only_stored:
        problem = f"tensor(s) {_names(only_stored)} in {TENSORS_ENTRY!r} but not in the manifest"
        raise _error(path, problem, REEXPORT_FIX)
    for name in sorted(records):
        _check_tensor(path, name, records[name], tensors[name])


def _names(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _check_tensor(path: Path, name: str, record: dict[str, Any], array: np.ndarray) -> None:
    if array.dtype.name != record["dtype"]:
        raise _error(
            path,
            f"tensor {name!r} has dtype {array.dtype.name}, the manifest says {record['dtype']}",
            REEXPORT_FIX,
        )
    if list(array.shape) != record["shape"]:
        raise _error(
            path,
            f"tensor {name!r} has shape {list(array.shape)}, the manifest says {record['shape']}",
            REEXPORT_FIX,
        )
    if _sha256(array) != record["sha256"]:
        raise _error(
            path,
            f"tensor {name!r} fails its sha256 check (its bytes were altered)",
            f"the file was damaged or edited after it was written; {REEXPORT_FIX}",
        )


def _check_stamp(path: Path, data: bytes) -> None:
    body, stamp = data[:-_STAMP_LENGTH], data[-_STAMP_LENGTH:]
    if not stamp.startswith(_STAMP_PREFIX):
        raise _error(
            path,
            "has no snapdeploy integrity stamp (zip comment), so it was not written by snapdeploy "
            "or was altered",
            REEXPORT_FIX,
        )
    if stamp != _stamp(body):
        raise _error(
            path,
            "whole-file sha256 mismatch: container bytes outside the entries were altered",
            f"the file was damaged or edited after it was written; {REEXPORT_FIX}",
        )
