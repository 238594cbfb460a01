"""The .snap format: round trips, every kind of damage is refused by name, writes are atomic."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.numpy import save as save_safetensors

from snapdeploy.artifact import (
    FORMAT_NAME,
    MANIFEST_ENTRY,
    SCHEMA_VERSION,
    TENSORS_ENTRY,
    read_artifact,
    write_artifact,
)
from snapdeploy.core.errors import ArtifactError

# The integrity stamp as the module docstring documents it; rebuilt here independently.
STAMP_PREFIX = b"snapdeploy-sha256:"
STAMP_LENGTH = len(STAMP_PREFIX) + 64
RESERVED_KEYS = {"format", "schema_version", "tensors"}
DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32"]

SAMPLE_TENSORS = {
    "dense.weight": np.arange(12, dtype=np.int8).reshape(3, 4),
    "dense.bias": np.array([1.5, -2.0, 0.25], dtype=np.float32),
    "lif.threshold": np.array(7, dtype=np.int16),
    "mask": np.array([True, False, True]),
}
SAMPLE_MANIFEST = {"graph": {"layers": ["dense", "lif"]}, "accuracy": 0.91, "bits": {"w": 8}}

slow_settings = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
manifests = st.dictionaries(
    st.text(max_size=12).filter(lambda key: key not in RESERVED_KEYS), json_values, max_size=5
)
tensor_arrays = st.sampled_from(DTYPES).flatmap(
    lambda dtype: hnp.arrays(
        dtype=np.dtype(dtype),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    )
)
tensor_dicts = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda name: name != "__metadata__"),
    tensor_arrays,
    max_size=5,
)


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    return write_artifact(tmp_path / "model.snap", SAMPLE_MANIFEST, SAMPLE_TENSORS)


def assert_read_fails(path: Path, *causes: str) -> str:
    """Reading `path` raises ArtifactError naming the file and each cause; the file is unchanged."""
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(ArtifactError) as caught:
        read_artifact(path)
    message = str(caught.value)
    assert str(path) in message
    assert "\n" not in message
    for cause in causes:
        assert cause in message
    if before is not None:
        assert path.read_bytes() == before
    return message


def entries_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zip_bytes(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of `entries` whose comment is a placeholder as long as the stamp."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, payload in entries.items():
            archive.writestr(name, payload)
        archive.comment = bytes(STAMP_LENGTH)
    return buffer.getvalue()


def restamped(data: bytes) -> bytes:
    """`data` with its last STAMP_LENGTH bytes replaced by a valid stamp (the documented format)."""
    body = data[:-STAMP_LENGTH]
    return body + STAMP_PREFIX + hashlib.sha256(body).hexdigest().encode()


def write_stamped_zip(path: Path, entries: dict[str, bytes]) -> None:
    path.write_bytes(restamped(zip_bytes(entries)))


def with_manifest(path: Path, change: dict[str, Any]) -> None:
    """Rewrite `path`'s manifest with `change` applied (None deletes a key), restamped."""
    entries = entries_of(path)
    manifest = json.loads(entries[MANIFEST_ENTRY])
    manifest.update(change)
    manifest = {key: value for key, value in manifest.items() if value is not None}
    entries[MANIFEST_ENTRY] = json.dumps(manifest).encode()
    write_stamped_zip(path, entries)


def with_tensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Replace `path`'s safetensors entry, keep the old manifest, restamp the file."""
    entries = entries_of(path)
    entries[TENSORS_ENTRY] = save_safetensors(tensors)
    write_stamped_zip(path, entries)


# --- round trip ----------------------------------------------------------------------------


@slow_settings
@given(manifest=manifests, tensors=tensor_dicts)
def test_round_trip_returns_equal_manifest_and_tensors(
    tmp_path_factory: pytest.TempPathFactory,
    manifest: dict[str, Any],
    tensors: dict[str, np.ndarray],
) -> None:
    path = tmp_path_factory.mktemp("round") / "model.snap"
    assert write_artifact(path, manifest, tensors) == path
    written = path.read_bytes()

    artifact = read_artifact(path)

    assert artifact.path == path
    assert path.read_bytes() == written
    assert {k: v for k, v in artifact.manifest.items() if k not in RESERVED_KEYS} == manifest
    assert artifact.manifest["format"] == FORMAT_NAME
    assert artifact.manifest["schema_version"] == SCHEMA_VERSION
    assert artifact.tensors.keys() == tensors.keys()
    for name, original in tensors.items():
        loaded = artifact.tensors[name]
        assert loaded.dtype == original.dtype
        assert loaded.shape == original.shape
        assert loaded.tobytes() == original.tobytes()
        assert artifact.manifest["tensors"][name] == {
            "dtype": original.dtype.name,
            "shape": list(original.shape),
            "sha256": hashlib.sha256(original.tobytes()).hexdigest(),
        }


def test_non_contiguous_and_big_endian_tensors_keep_their_values(tmp_path: Path) -> None:
    # safetensors.numpy.save alone stores a transposed view's memory in the wrong order.
    transposed = np.arange(6, dtype=np.int32).reshape(2, 3).T
    big_endian = np.array([1, -2, 300], dtype=">i4")
    path = write_artifact(tmp_path / "m.snap", {}, {"t": transposed, "b": big_endian})

    tensors = read_artifact(path).tensors

    np.testing.assert_array_equal(tensors["t"], transposed)
    np.testing.assert_array_equal(tensors["b"], big_endian)


def test_same_inputs_give_identical_bytes(tmp_path: Path) -> None:
    first = write_artifact(tmp_path / "a.snap", SAMPLE_MANIFEST, SAMPLE_TENSORS)
    second = write_artifact(tmp_path / "b.snap", SAMPLE_MANIFEST, SAMPLE_TENSORS)
    assert first.read_bytes() == second.read_bytes()


def test_file_ends_with_documented_whole_file_stamp(sample: Path) -> None:
    data = sample.read_bytes()
    body, stamp = data[:-STAMP_LENGTH], data[-STAMP_LENGTH:]
    assert stamp == STAMP_PREFIX + hashlib.sha256(body).hexdigest().encode()
    with zipfile.ZipFile(sample) as archive:
        assert archive.comment == stamp
        assert sorted(archive.namelist()) == sorted([MANIFEST_ENTRY, TENSORS_ENTRY])


def test_write_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = write_artifact(tmp_path / "a" / "b" / "model.snap", SAMPLE_MANIFEST, SAMPLE_TENSORS)
    assert read_artifact(path).manifest["graph"] == SAMPLE_MANIFEST["graph"]


def test_caller_values_for_reserved_keys_are_replaced(tmp_path: Path) -> None:
    manifest = {"format": "mine", "schema_version": 99, "tensors": "nope", "kept": 1}
    artifact = read_artifact(write_artifact(tmp_path / "m.snap", manifest, SAMPLE_TENSORS))
    assert artifact.manifest["format"] == FORMAT_NAME
    assert artifact.manifest["schema_version"] == SCHEMA_VERSION
    assert artifact.manifest["tensors"].keys() == SAMPLE_TENSORS.keys()
    assert artifact.manifest["kept"] == 1


# --- damaged or foreign files --------------------------------------------------------------


@slow_settings
@given(data=st.data())
def test_any_single_byte_change_is_refused(sample: Path, data: st.DataObject) -> None:
    original = sample.read_bytes()
    position = data.draw(st.integers(0, len(original) - 1), label="position")
    flip = data.draw(st.integers(1, 255), label="xor")
    damaged = bytearray(original)
    damaged[position] ^= flip
    copy = sample.with_name("damaged.snap")
    copy.write_bytes(bytes(damaged))

    assert_read_fails(copy)


def test_every_single_bit_flip_is_refused(sample: Path) -> None:
    original = sample.read_bytes()
    copy = sample.with_name("damaged.snap")
    for position in range(len(original)):
        for bit in range(8):
            damaged = bytearray(original)
            damaged[position] ^= 1 << bit
            copy.write_bytes(bytes(damaged))
            assert_read_fails(copy)


def test_altered_header_timestamp_is_caught_by_whole_file_hash(sample: Path) -> None:
    damaged = bytearray(sample.read_bytes())
    damaged[10] ^= 0x01  # first local header's modification time: not covered by any CRC
    sample.write_bytes(bytes(damaged))
    assert_read_fails(sample, "whole-file sha256 mismatch", "outside the entries were altered")


def test_damaged_entry_data_names_the_entry(sample: Path) -> None:
    data = sample.read_bytes()
    with zipfile.ZipFile(sample) as archive:
        info = archive.getinfo(TENSORS_ENTRY)
    name_length = len(TENSORS_ENTRY.encode())
    data_start = info.header_offset + 30 + name_length + len(info.extra)
    damaged = bytearray(data)
    damaged[data_start + info.compress_size // 2] ^= 0xFF
    sample.write_bytes(bytes(damaged))
    assert_read_fails(sample, f"entry {TENSORS_ENTRY!r} is corrupt")


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        (9, b"deflate64 data"),  # a method zipfile cannot decode: NotImplementedError
        (12, b"not bzip2 data"),  # bzip2: OSError
        (14, b"\x09\x14\x05\x00\xff" + bytes(16)),  # lzma with invalid properties: LZMAError
    ],
)
def test_entry_in_other_compression_method_is_named(
    sample: Path, method: int, payload: bytes
) -> None:
    entries = entries_of(sample)
    entries[MANIFEST_ENTRY] = payload
    data = bytearray(zip_bytes(entries, zipfile.ZIP_STORED))
    central = data.index(b"PK\x01\x02")  # the manifest comes first in both headers
    data[8:10] = data[central + 10 : central + 12] = struct.pack("<H", method)
    sample.write_bytes(restamped(bytes(data)))
    assert_read_fails(sample, f"entry {MANIFEST_ENTRY!r} is corrupt")


@slow_settings
@given(data=st.data())
def test_truncated_file_is_refused(sample: Path, data: st.DataObject) -> None:
    original = sample.read_bytes()
    length = data.draw(st.integers(0, len(original) - 1), label="length")
    copy = sample.with_name("truncated.snap")
    copy.write_bytes(original[:length])

    assert_read_fails(copy)


def test_file_cut_in_half_is_not_a_zip(sample: Path) -> None:
    original = sample.read_bytes()
    sample.write_bytes(original[: len(original) // 2])
    assert_read_fails(sample, "not a readable zip archive")


@pytest.mark.parametrize("dropped", [MANIFEST_ENTRY, TENSORS_ENTRY])
def test_missing_entry_is_named(sample: Path, dropped: str) -> None:
    entries = entries_of(sample)
    del entries[dropped]
    write_stamped_zip(sample, entries)
    assert_read_fails(sample, f"no {dropped!r} entry")


@pytest.mark.parametrize(
    ("version", "found"), [(2, "found 2"), (0, "found 0"), ("1", "found '1'"), (True, "found True")]
)
def test_other_schema_version_is_refused_with_the_fix(
    sample: Path, version: object, found: str
) -> None:
    with_manifest(sample, {"schema_version": version})
    assert_read_fails(
        sample, "unsupported schema version", found, f"supports {SCHEMA_VERSION}", "re-export"
    )


def test_missing_schema_version_is_refused(sample: Path) -> None:
    with_manifest(sample, {"schema_version": None})
    assert_read_fails(sample, "found missing", f"supports {SCHEMA_VERSION}", "re-export")


def test_foreign_format_name_is_refused(sample: Path) -> None:
    with_manifest(sample, {"format": "someone-else"})
    assert_read_fails(sample, "not a snapdeploy artifact", "'someone-else'")


@pytest.mark.parametrize(
    ("payload", "cause"),
    [(b"{not json", "not valid JSON"), (b"\xff\xfe", "not valid JSON"), (b"[1, 2]", "JSON object")],
)
def test_unparsable_manifest_is_refused(sample: Path, payload: bytes, cause: str) -> None:
    entries = entries_of(sample)
    entries[MANIFEST_ENTRY] = payload
    write_stamped_zip(sample, entries)
    assert_read_fails(sample, MANIFEST_ENTRY, cause)


def test_malformed_tensor_record_is_named(sample: Path) -> None:
    with_manifest(sample, {"tensors": {"dense.weight": {"dtype": "int8"}}})
    assert_read_fails(sample, "'dense.weight' is malformed")


def test_unreadable_safetensors_entry_is_refused(sample: Path) -> None:
    entries = entries_of(sample)
    entries[TENSORS_ENTRY] = b"\x00" * 16
    write_stamped_zip(sample, entries)
    assert_read_fails(sample, f"{TENSORS_ENTRY!r} is not a readable safetensors file")


def test_tensor_with_altered_bytes_is_named(sample: Path) -> None:
    altered = dict(SAMPLE_TENSORS)
    altered["dense.weight"] = SAMPLE_TENSORS["dense.weight"] + 1
    with_tensors(sample, altered)
    assert_read_fails(sample, "tensor 'dense.weight' fails its sha256 check")


def test_tensor_listed_but_not_stored_is_named(sample: Path) -> None:
    with_tensors(sample, {k: v for k, v in SAMPLE_TENSORS.items() if k != "mask"})
    assert_read_fails(sample, "'mask' in the manifest but not in")


def test_tensor_stored_but_not_listed_is_named(sample: Path) -> None:
    with_tensors(sample, {**SAMPLE_TENSORS, "extra": np.zeros(2, np.int8)})
    assert_read_fails(sample, "'extra' in 'tensors.safetensors' but not in the manifest")


def test_tensor_dtype_mismatch_is_named(sample: Path) -> None:
    with_tensors(sample, {**SAMPLE_TENSORS, "dense.bias": np.array([1, 2, 3], np.int32)})
    assert_read_fails(sample, "tensor 'dense.bias' has dtype int32, the manifest says float32")


def test_tensor_shape_mismatch_is_named(sample: Path) -> None:
    reshaped = SAMPLE_TENSORS["dense.weight"].reshape(4, 3)
    with_tensors(sample, {**SAMPLE_TENSORS, "dense.weight": reshaped})
    assert_read_fails(sample, "tensor 'dense.weight' has shape [4, 3], the manifest says [3, 4]")


def test_zip_without_stamp_is_refused(sample: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in entries_of(sample).items():
            archive.writestr(name, payload)
    sample.write_bytes(buffer.getvalue())
    assert_read_fails(sample, "no snapdeploy integrity stamp")


@given(junk=st.binary(max_size=512))
@slow_settings
def test_random_bytes_are_refused(tmp_path_factory: pytest.TempPathFactory, junk: bytes) -> None:
    path = tmp_path_factory.mktemp("junk") / "junk.snap"
    path.write_bytes(junk)
    assert_read_fails(path, "not a readable zip archive")


def test_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.snap"
    path.write_text("layers: dense, lif\n")
    assert_read_fails(path, "is not a snapdeploy artifact", "not a readable zip archive")


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert_read_fails(tmp_path / "absent.snap", "no such file")


def test_directory_is_refused(tmp_path: Path) -> None:
    assert_read_fails(tmp_path, "cannot be read")


# --- failing writes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("manifest", "where"),
    [
        ({"graph": {"layers": [1, object()]}}, "manifest['graph']['layers'][1]"),
        ({"accuracy": np.int64(3)}, "manifest['accuracy']"),
        ({"accuracy": float("nan")}, "manifest['accuracy']"),
        ({"bits": {8: "w"}}, "key 8 in manifest['bits']"),
    ],
)
def test_non_json_manifest_is_refused_and_old_file_kept(
    sample: Path, manifest: dict[str, Any], where: str
) -> None:
    before = sample.read_bytes()
    with pytest.raises(ArtifactError, match="not strict JSON") as caught:
        write_artifact(sample, manifest, SAMPLE_TENSORS)
    assert where in str(caught.value)
    assert sample.read_bytes() == before
    assert os.listdir(sample.parent) == [sample.name]


@pytest.mark.parametrize(
    ("tensors", "cause"),
    [
        ({"z": np.array([1j])}, "tensor 'z' has dtype complex128"),
        ({"o": np.array([None])}, "tensor 'o' has dtype object"),
        ({"l": [1, 2]}, "tensor 'l' is a list"),
        ({"__metadata__": np.zeros(1)}, "'__metadata__' cannot be stored"),
    ],
)
def test_unstorable_tensor_is_refused_and_old_file_kept(
    sample: Path, tensors: dict[str, Any], cause: str
) -> None:
    before = sample.read_bytes()
    with pytest.raises(ArtifactError, match="tensor") as caught:
        write_artifact(sample, SAMPLE_MANIFEST, tensors)
    assert cause in str(caught.value)
    assert sample.read_bytes() == before
    assert os.listdir(sample.parent) == [sample.name]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_write_keeps_old_file_and_leaves_no_temp_file(
    sample: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    before = sample.read_bytes()

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(ArtifactError, match="No space left on device") as caught:
        write_artifact(sample, {"new": True}, {"w": np.ones(3, np.int8)})
    monkeypatch.undo()

    assert "unchanged" in str(caught.value)
    assert sample.read_bytes() == before
    assert os.listdir(sample.parent) == [sample.name]
    assert read_artifact(sample).manifest["graph"] == SAMPLE_MANIFEST["graph"]


def test_parent_that_is_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    with pytest.raises(ArtifactError, match="cannot write the artifact"):
        write_artifact(blocker / "model.snap", SAMPLE_MANIFEST, SAMPLE_TENSORS)
    assert os.listdir(tmp_path) == ["blocker"]
