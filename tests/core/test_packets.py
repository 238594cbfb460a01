"""Spike frame codec: round trips, size choice near the entropy, and every way a frame is refused."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.core.errors import PacketError
from snapdeploy.core.packets import (
    DELTA,
    HEADER,
    HEADER_SIZE,
    MAX_ROWS,
    VERSION,
    Encoding,
    bitmap_size,
    decode_frame,
    decode_steps,
    encode_frame,
    encode_steps,
    expected_frame_bytes,
    iter_frames,
    read_header,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
densities = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0), st.floats(0.0, 0.05))


def random_spikes(shape: tuple[int, ...], density: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) < density


def raw_frame(code: int, rows: int, k: int, count: int, payload: bytes, step: int = 4) -> bytes:
    """A frame with a valid CRC built straight from the spec, to reach the payload checks."""
    fields = (VERSION, code, 3, step, 5, rows, k, count, len(payload))
    crc = zlib.crc32(HEADER.pack(*fields, 0) + payload)
    return HEADER.pack(*fields, crc) + payload


def test_header_layout_is_25_bytes_little_endian() -> None:
    assert HEADER.format == "<BBHHIHBIII"
    assert HEADER_SIZE == 25


def test_golden_bitmap_frame() -> None:
    spikes = np.zeros((1, 10), dtype=bool)
    spikes[0, [1, 9]] = True  # gaps 1 and 7: Rice k=1 needs 2 + 1 + 4 = 7 bits, the bitmap 10
    frame = encode_frame(0x0102, 0x0304, 0x05060708, spikes)
    assert read_header(frame).encoding is Encoding.RICE
    dense = np.ones((1, 10), dtype=bool)
    frame = encode_frame(1, 2, 3, dense)
    head = struct.pack("<BBHHIHBII", VERSION, 0, 1, 2, 3, 1, 0, 10, 2)
    payload = bytes([0xFF, 0x03])
    crc = zlib.crc32(head + b"\0\0\0\0" + payload)
    assert frame == head + crc.to_bytes(4, "little") + payload


def test_golden_rice_frame() -> None:
    spikes = np.zeros((1, 16), dtype=bool)
    spikes[0, [0, 5, 6]] = True  # gaps 0, 4, 0: k = 0 costs 7 bits (k = 1: 8), unary 0 11110 0
    frame = encode_frame(0, 0, 0, spikes)
    header = read_header(frame)
    assert (header.encoding, header.rice_k, header.count) == (Encoding.RICE, 0, 3)
    bits = [0, 1, 1, 1, 1, 0, 0, 0]
    assert frame[HEADER_SIZE:] == np.packbits(bits, bitorder="little").tobytes()


@SETTINGS
@given(st.integers(1, 40), st.integers(1, 300), densities, st.integers(0, 2**32 - 1))
def test_round_trip_and_never_larger_than_a_bitmap(rows, n, density, seed) -> None:
    spikes = random_spikes((rows, n), density, seed)
    frame = encode_frame(7, 3, 11, spikes)
    header, decoded = decode_frame(frame, n)
    np.testing.assert_array_equal(decoded, spikes)
    assert (header.boundary_id, header.step, header.first_batch, header.rows) == (7, 3, 11, rows)
    assert header.count == spikes.sum()
    assert len(frame) <= HEADER_SIZE + bitmap_size(rows * n)


@SETTINGS
@given(st.integers(1, 30), st.integers(1, 200), densities, densities, st.integers(0, 2**32 - 1))
def test_delta_frames_round_trip_and_never_cost_more(rows, n, d0, d1, seed) -> None:
    before = random_spikes((rows, n), d0, seed)
    now = before ^ random_spikes((rows, n), d1, seed + 1)
    frame = encode_frame(0, 1, 0, now, previous=before)
    assert len(frame) <= len(encode_frame(0, 1, 0, now))
    np.testing.assert_array_equal(decode_frame(frame, n, previous=before)[1], now)


def test_a_delta_frame_needs_its_previous_step() -> None:
    spikes = np.ones((2, 50), dtype=bool)
    frame = encode_frame(0, 1, 0, spikes, previous=spikes)
    assert read_header(frame).delta and len(frame) == HEADER_SIZE
    with pytest.raises(PacketError, match="delta of step 0"):
        decode_frame(frame, 50)


def test_rice_is_near_the_entropy_of_random_spikes() -> None:
    for rate in (0.01, 0.05, 0.13, 0.3):
        spikes = random_spikes((256, 128), rate, 1)
        entropy = -(rate * np.log2(rate) + (1 - rate) * np.log2(1 - rate)) * spikes.size / 8
        size = len(encode_frame(0, 0, 0, spikes)) - HEADER_SIZE
        assert size < 1.06 * entropy
        assert expected_frame_bytes(128, 256, rate) == pytest.approx(size + HEADER_SIZE, rel=0.05)


@SETTINGS
@given(
    st.tuples(st.integers(1, 6), st.integers(0, 9), st.integers(1, 90)),
    densities,
    st.integers(0, 2**32 - 1),
)
def test_steps_round_trip(shape, density, seed) -> None:
    spikes = random_spikes(shape, density, seed)
    frames = encode_steps(9, spikes, first_batch=100)
    assert len(frames) == (shape[0] if shape[1] else 0)
    np.testing.assert_array_equal(
        decode_steps(frames, shape[2], shape[0], shape[1], boundary_id=9, first_batch=100), spikes
    )
    stream = b"".join(frames)
    assert list(iter_frames(stream)) == frames


def test_any_single_bit_flip_is_caught() -> None:
    spikes = random_spikes((3, 40), 0.1, 2)
    for frame in (encode_frame(1, 1, 0, spikes), encode_frame(1, 1, 0, np.ones((3, 40), bool))):
        for bit in range(8 * len(frame)):
            bad = bytearray(frame)
            bad[bit // 8] ^= 1 << (bit % 8)
            with pytest.raises(PacketError):
                decode_frame(bytes(bad), 40)


def test_crc_error_names_the_frame() -> None:
    frame = bytearray(encode_frame(2, 3, 40, random_spikes((4, 30), 0.2, 0)))
    frame[-1] ^= 0x01
    with pytest.raises(PacketError, match=r"boundary 2 step 3 samples 40..43 .*CRC32"):
        decode_frame(bytes(frame), 30)


def test_every_truncation_and_extension_is_refused() -> None:
    frame = encode_frame(0, 0, 0, random_spikes((2, 30), 0.3, 0))
    for cut in range(len(frame)):
        with pytest.raises(PacketError):
            decode_frame(frame[:cut], 30)
    with pytest.raises(PacketError):
        decode_frame(frame + b"\0", 30)


def test_wrong_n_neurons_is_refused_where_the_sizes_show_it() -> None:
    # both ends know n; a wrong one is caught when it changes the payload's size or counts
    frame = encode_frame(0, 0, 0, np.ones((2, 30), dtype=bool))
    for n in (29, 45):
        with pytest.raises(PacketError):
            decode_frame(frame, n)


@pytest.mark.parametrize(
    ("frame", "n", "message"),
    [
        (raw_frame(Encoding.BITMAP, 1, 0, 2, bytes([0b11])), 8, None),
        (raw_frame(Encoding.BITMAP, 1, 0, 3, bytes([0b11])), 8, "says 3 spikes"),
        (raw_frame(Encoding.BITMAP, 1, 0, 1, bytes([0b1000_0000])), 7, "bitmap"),
        (raw_frame(Encoding.RICE, 1, 0, 2, bytes([0b0000_0000])), 8, None),
        (raw_frame(Encoding.RICE, 1, 0, 2, bytes([0b1000_0000])), 8, "exactly 2 Rice codes"),
        (raw_frame(Encoding.RICE, 1, 0, 2, bytes([0b0011_1110])), 4, "cell 6"),
        (raw_frame(7, 1, 0, 0, b""), 8, "unknown encoding 7"),
        (raw_frame(Encoding.RICE, 1, 0, 9, b""), 8, "impossible"),
    ],
)
def test_malformed_payloads_with_valid_crc(frame: bytes, n: int, message: str | None) -> None:
    if message is None:
        assert decode_frame(frame, n)[1].sum() == 2
    else:
        with pytest.raises(PacketError, match=message):
            decode_frame(frame, n)


def test_another_version_is_refused() -> None:
    frame = bytearray(encode_frame(0, 0, 0, np.ones((1, 4), bool)))
    frame[0] = 1
    with pytest.raises(PacketError, match="format version 1"):
        read_header(bytes(frame))


def test_missing_duplicate_foreign_and_misplaced_frames_are_named() -> None:
    spikes = random_spikes((3, 4, 10), 0.3, 0)
    frames = encode_steps(1, spikes)
    with pytest.raises(PacketError, match="never arrived"):
        decode_steps(frames[:1], 10, 3, 4)
    with pytest.raises(PacketError, match="twice"):
        decode_steps([frames[0], frames[0]], 10, 3, 4)
    with pytest.raises(PacketError, match="expected boundary 2"):
        decode_steps(frames, 10, 3, 4, boundary_id=2)
    with pytest.raises(PacketError, match="outside"):
        decode_steps(frames, 10, 2, 4)


@pytest.mark.parametrize(
    ("args", "field"),
    [((0x10000, 0, 0), "boundary_id"), ((0, 0x10000, 0), "step"), ((0, 0, 2**32), "first_batch")],
)
def test_header_field_ranges(args, field) -> None:
    with pytest.raises(PacketError, match=field):
        encode_frame(*args, np.zeros((1, 3), dtype=bool))


def test_frames_hold_at_most_max_rows_and_need_bool_arrays() -> None:
    with pytest.raises(PacketError, match=f"1..{MAX_ROWS}"):
        encode_frame(0, 0, 0, np.zeros((0, 3), dtype=bool))
    with pytest.raises(PacketError, match="bool array"):
        encode_frame(0, 0, 0, np.zeros((2, 3), dtype=np.uint8))
    with pytest.raises(PacketError, match="bool array"):
        encode_steps(0, np.zeros((2, 3), dtype=bool))
    frames = encode_steps(0, np.zeros((1, MAX_ROWS + 1, 2), dtype=bool))
    assert [read_header(f).rows for f in frames] == [MAX_ROWS, 1]
    assert DELTA == 0x80


def test_stream_truncated_tail_is_refused() -> None:
    stream = b"".join(encode_steps(0, random_spikes((2, 3, 20), 0.4, 1)))
    with pytest.raises(PacketError, match="truncated"):
        list(iter_frames(stream[:-1]))
