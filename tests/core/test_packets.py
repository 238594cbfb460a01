"""Spike packet codec: round trips, size choice, and every way a packet can be refused."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.core.errors import PacketError
from snapdeploy.core.packets import (
    HEADER,
    HEADER_SIZE,
    Encoding,
    PacketHeader,
    choose_encoding,
    decode_packet,
    decode_steps,
    encode_packet,
    encode_steps,
    iter_packets,
    packet_size,
    payload_size,
)

AER16_LIMIT = 65536
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Layer widths around every edge that matters: tiny, byte boundaries, the AER16/AER32 switch.
neuron_counts = st.one_of(
    st.integers(1, 70000),
    st.integers(1, 17),
    st.integers(AER16_LIMIT - 2, AER16_LIMIT + 2),
)
# Empty and full layers, a single spike, and random densities on both sides of the switch.
densities = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0), st.floats(0.0, 0.1))


def random_spikes(shape: tuple[int, ...], density: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) < density


def raw_packet(
    encoding: int, count: int, payload: bytes, boundary_id: int = 3, step: int = 4, batch: int = 5
) -> bytes:
    """A packet with a valid CRC built straight from the spec, to reach the payload checks."""
    head = struct.pack("<HHIBII", boundary_id, step, batch, encoding, count, 0)
    crc = zlib.crc32(head + payload)
    return struct.pack("<HHIBII", boundary_id, step, batch, encoding, count, crc) + payload


def all_encodings_for(n: int) -> list[Encoding]:
    aer = [Encoding.AER16, Encoding.AER32] if n <= AER16_LIMIT else [Encoding.AER32]
    return [*aer, Encoding.BITMAP]


def test_header_layout_is_17_bytes_little_endian() -> None:
    assert HEADER.format == "<HHIBII"
    assert HEADER_SIZE == 17


def test_golden_packet_bytes() -> None:
    # Neurons 1 and 9 of 10: the 2-byte bitmap beats 4 bytes of AER16 ids.
    spikes = np.zeros(10, dtype=bool)
    spikes[[1, 9]] = True
    packet = encode_packet(0x0102, 0x0304, 0x05060708, spikes)
    body = bytes([0x02, 0x01, 0x04, 0x03, 0x08, 0x07, 0x06, 0x05, 2, 2, 0, 0, 0])
    payload = bytes([0b0000_0010, 0b0000_0010])
    crc = zlib.crc32(body + b"\0\0\0\0" + payload)
    assert packet == body + crc.to_bytes(4, "little") + payload


def test_golden_aer_packet_bytes() -> None:
    spikes = np.zeros(100, dtype=bool)
    spikes[[0, 7, 99]] = True
    packet = encode_packet(1, 2, 3, spikes)
    assert packet[12] == Encoding.AER16
    assert packet[HEADER_SIZE:] == np.array([0, 7, 99], dtype="<u2").tobytes()
    assert packet == raw_packet(0, 3, packet[HEADER_SIZE:], boundary_id=1, step=2, batch=3)


@SETTINGS
@given(n=neuron_counts, density=densities, seed=st.integers(0, 2**32 - 1), data=st.data())
def test_round_trip_each_encoding(n: int, density: float, seed: int, data: st.DataObject) -> None:
    spikes = random_spikes((n,), density, seed)
    encoding = data.draw(st.sampled_from([None, *all_encodings_for(n)]), label="encoding")
    step = data.draw(st.integers(0, 65535), label="step")
    batch = data.draw(st.integers(0, 2**32 - 1), label="batch")
    packet = encode_packet(65535, step, batch, spikes, encoding)
    header, decoded = decode_packet(packet, n)
    count = int(spikes.sum())
    chosen = choose_encoding(n, count) if encoding is None else encoding
    assert header == PacketHeader(65535, step, batch, chosen, count)
    assert decoded.dtype == np.bool_
    np.testing.assert_array_equal(decoded, spikes)
    assert len(packet) == HEADER_SIZE + payload_size(chosen, n, count)


@SETTINGS
@given(n=neuron_counts, density=densities, seed=st.integers(0, 2**32 - 1))
def test_automatic_choice_is_never_larger(n: int, density: float, seed: int) -> None:
    spikes = random_spikes((n,), density, seed)
    count = int(spikes.sum())
    automatic = encode_packet(0, 0, 0, spikes)
    assert len(automatic) == packet_size(n, count)
    for encoding in all_encodings_for(n):
        assert len(automatic) <= len(encode_packet(0, 0, 0, spikes, encoding))


@pytest.mark.parametrize(
    ("n", "count", "expected"),
    [
        (16, 0, Encoding.AER16),  # 0 bytes < 2
        (16, 1, Encoding.BITMAP),  # 2 bytes == 2: a tie goes to the bitmap
        (800, 49, Encoding.AER16),  # 98 < 100
        (800, 50, Encoding.BITMAP),  # 100 == 100
        (65536, 4095, Encoding.AER16),
        (65536, 4096, Encoding.BITMAP),
        (65537, 2048, Encoding.AER32),  # 8192 < 8193
        (65537, 2049, Encoding.BITMAP),
        (1, 1, Encoding.BITMAP),
        (1, 0, Encoding.AER16),
    ],
)
def test_choose_encoding_thresholds(n: int, count: int, expected: Encoding) -> None:
    assert choose_encoding(n, count) is expected


def test_payload_sizes() -> None:
    assert payload_size(Encoding.AER16, 100, 7) == 14
    assert payload_size(Encoding.AER32, 100, 7) == 28
    assert payload_size(Encoding.BITMAP, 100, 7) == 13
    assert packet_size(100, 7) == HEADER_SIZE + 13
    assert packet_size(100, 6) == HEADER_SIZE + 12


def test_aer16_refused_beyond_its_ids() -> None:
    spikes = np.zeros(AER16_LIMIT + 1, dtype=bool)
    with pytest.raises(PacketError, match="AER16 addresses at most 65536"):
        encode_packet(0, 0, 0, spikes, Encoding.AER16)
    with pytest.raises(PacketError, match="AER16"):
        payload_size(Encoding.AER16, AER16_LIMIT + 1, 0)
    packet = raw_packet(Encoding.AER16, 1, np.array([5], "<u2").tobytes())
    with pytest.raises(PacketError, match="boundary 3 step 4 batch 5"):
        decode_packet(packet, AER16_LIMIT + 1)


@pytest.mark.parametrize(("n", "count"), [(-1, 0), (10, 11), (10, -1)])
def test_impossible_counts_refused(n: int, count: int) -> None:
    with pytest.raises(PacketError):
        packet_size(n, count)


@SETTINGS
@given(
    shape=st.tuples(st.integers(0, 6), st.integers(0, 5), st.integers(1, 300)),
    density=densities,
    seed=st.integers(0, 2**32 - 1),
)
def test_steps_round_trip(shape: tuple[int, int, int], density: float, seed: int) -> None:
    spikes = random_spikes(shape, density, seed)
    steps, batch, n = shape
    packets = encode_steps(9, spikes)
    assert len(packets) == steps * batch
    order = [(t, b) for t in range(steps) for b in range(batch)]
    for packet, (t, b) in zip(packets, order, strict=True):
        assert packet == encode_packet(9, t, b, spikes[t, b])
    np.testing.assert_array_equal(decode_steps(packets, n, steps, batch, boundary_id=9), spikes)
    shuffled = list(np.random.default_rng(seed).permutation(np.array(packets, dtype=object)))
    np.testing.assert_array_equal(decode_steps(shuffled, n, steps, batch), spikes)


def test_steps_mixes_encodings_per_packet() -> None:
    spikes = np.zeros((2, 2, 1000), dtype=bool)
    spikes[0, 1, ::2] = True  # dense: bitmap
    spikes[1, 0, [3, 999]] = True  # sparse: AER16
    packets = encode_steps(0, spikes)
    encodings = [decode_packet(p, 1000)[0].encoding for p in packets]
    assert encodings == [Encoding.AER16, Encoding.BITMAP, Encoding.AER16, Encoding.AER16]
    np.testing.assert_array_equal(decode_steps(packets, 1000, 2, 2), spikes)


def test_steps_wide_layer_uses_aer32() -> None:
    spikes = np.zeros((1, 2, 70000), dtype=bool)
    spikes[0, 0, [0, 65536, 69999]] = True
    packets = encode_steps(0, spikes)
    assert decode_packet(packets[0], 70000)[0].encoding is Encoding.AER32
    np.testing.assert_array_equal(decode_steps(packets, 70000, 1, 2), spikes)


@SETTINGS
@given(
    n=st.integers(1, 2000),
    density=densities,
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_any_single_bit_flip_is_caught(
    n: int, density: float, seed: int, data: st.DataObject
) -> None:
    spikes = random_spikes((n,), density, seed)
    encoding = data.draw(st.sampled_from([None, *all_encodings_for(n)]), label="encoding")
    packet = bytearray(encode_packet(7, 8, 9, spikes, encoding))
    bit = data.draw(st.integers(0, len(packet) * 8 - 1), label="bit")
    packet[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(PacketError):
        decode_packet(bytes(packet), n)


def test_crc_error_names_the_packet() -> None:
    spikes = np.ones(64, dtype=bool)
    packet = bytearray(encode_packet(11, 12, 13, spikes))
    packet[-1] ^= 0x10
    with pytest.raises(PacketError, match=r"boundary 11 step 12 batch 13.*CRC32.*link corrupted"):
        decode_packet(bytes(packet), 64)


def test_every_truncation_and_extension_is_refused() -> None:
    spikes = np.zeros(300, dtype=bool)
    spikes[[1, 50, 299]] = True
    for encoding in all_encodings_for(300):
        packet = encode_packet(1, 2, 3, spikes, encoding)
        for length in range(len(packet)):
            with pytest.raises(PacketError):
                decode_packet(packet[:length], 300)
        with pytest.raises(PacketError, match="implies"):
            decode_packet(packet + b"\0", 300)


def test_wrong_n_neurons_is_refused() -> None:
    packet = encode_packet(0, 0, 0, np.ones(20, dtype=bool))
    with pytest.raises(PacketError):
        decode_packet(packet, 30)


def test_decode_accepts_memoryview() -> None:
    spikes = np.arange(40) % 3 == 0
    stream = b"xx" + encode_packet(0, 1, 2, spikes)
    header, decoded = decode_packet(memoryview(stream)[2:], 40)
    assert (header.step, header.batch) == (1, 2)
    np.testing.assert_array_equal(decoded, spikes)


@pytest.mark.parametrize(
    ("packet", "n", "message"),
    [
        (raw_packet(3, 0, b""), 8, "unknown encoding 3"),
        (raw_packet(0, 2, np.array([4, 4], "<u2").tobytes()), 8, "not strictly increasing"),
        (raw_packet(0, 2, np.array([5, 4], "<u2").tobytes()), 8, "not strictly increasing"),
        (raw_packet(1, 2, np.array([4, 8], "<u4").tobytes()), 8, "AER id 8"),
        (raw_packet(2, 1, bytes([0b1000_0001])), 7, "past its 7 neurons"),
        (raw_packet(2, 1, bytes([0b0000_0011])), 8, "says 1 spikes but its bitmap sets 2"),
        (raw_packet(0, 9, b"\0" * 18), 8, r"spike count 9 is outside 0\.\.8"),
        (b"\0" * (HEADER_SIZE - 1), 8, "shorter than"),
    ],
    ids=[
        "unknown-encoding",
        "aer-repeat",
        "aer-decreasing",
        "aer-out-of-range",
        "bitmap-past-n",
        "bitmap-count",
        "count-over-n",
        "short-header",
    ],
)
def test_malformed_payloads_with_valid_crc(packet: bytes, n: int, message: str) -> None:
    with pytest.raises(PacketError, match=message):
        decode_packet(packet, n)


def steps_packets() -> tuple[np.ndarray, list[bytes]]:
    spikes = random_spikes((3, 2, 50), 0.3, seed=1)
    return spikes, encode_steps(4, spikes)


def test_missing_packet_is_named() -> None:
    _, packets = steps_packets()
    del packets[3]  # t-major: (step 1, batch 1)
    with pytest.raises(PacketError, match=r"1 packets never arrived: \(step 1, batch 1\)"):
        decode_steps(packets, 50, 3, 2)


def test_duplicate_packet_is_named() -> None:
    _, packets = steps_packets()
    with pytest.raises(PacketError, match="boundary 4 step 2 batch 0 arrived twice"):
        decode_steps([*packets, packets[4]], 50, 3, 2)


def test_wrong_boundary_is_refused() -> None:
    spikes, packets = steps_packets()
    np.testing.assert_array_equal(decode_steps(packets, 50, 3, 2, boundary_id=4), spikes)
    with pytest.raises(PacketError, match="belongs to boundary 4, expected boundary 5"):
        decode_steps(packets, 50, 3, 2, boundary_id=5)


def test_packet_outside_window_is_refused() -> None:
    _, packets = steps_packets()
    with pytest.raises(PacketError, match="step 2 batch 0 is outside"):
        decode_steps(packets, 50, 2, 2)
    with pytest.raises(PacketError, match="step 0 batch 1 is outside"):
        decode_steps(packets, 50, 3, 1)


@pytest.mark.parametrize(
    ("boundary_id", "step", "batch", "field"),
    [
        (65536, 0, 0, "boundary_id 65536"),
        (-1, 0, 0, "boundary_id -1"),
        (0, 65536, 0, r"step 65536 does not fit its header field \(0..65535\)"),
        (0, -1, 0, "step -1"),
        (0, 0, 2**32, r"batch 4294967296 does not fit its header field \(0..4294967295\)"),
        (0, 0, -1, "batch -1"),
    ],
)
def test_header_field_ranges(boundary_id: int, step: int, batch: int, field: str) -> None:
    with pytest.raises(PacketError, match=field):
        encode_packet(boundary_id, step, batch, np.zeros(4, dtype=bool))


def test_largest_header_fields_round_trip() -> None:
    packet = encode_packet(65535, 65535, 2**32 - 1, np.ones(3, dtype=bool))
    assert decode_packet(packet, 3)[0] == PacketHeader(65535, 65535, 2**32 - 1, Encoding.BITMAP, 3)


def test_encode_steps_ranges() -> None:
    with pytest.raises(PacketError, match="65537 time steps"):
        encode_steps(0, np.zeros((65537, 1, 1), dtype=bool))
    with pytest.raises(PacketError, match="batch of 4294967297"):
        encode_steps(0, np.zeros((1, 2**32 + 1, 0), dtype=bool))
    with pytest.raises(PacketError, match="boundary_id 65536"):
        encode_steps(65536, np.zeros((1, 1, 1), dtype=bool))
    packets = encode_steps(0, np.zeros((65536, 1, 1), dtype=bool))
    assert decode_packet(packets[-1], 1)[0].step == 65535


@pytest.mark.parametrize(
    "spikes", [np.zeros(4, dtype=np.uint8), np.zeros((2, 4), dtype=bool), np.zeros((), dtype=bool)]
)
def test_spikes_must_be_bool_vector(spikes: np.ndarray) -> None:
    with pytest.raises(PacketError, match="bool array"):
        encode_packet(0, 0, 0, spikes)


def test_encode_steps_needs_bool_3d() -> None:
    with pytest.raises(PacketError, match=r"\[T, batch, n\]"):
        encode_steps(0, np.zeros((2, 4), dtype=bool))
    with pytest.raises(PacketError, match="bool array"):
        encode_steps(0, np.zeros((1, 1, 4), dtype=np.int8))


@SETTINGS
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 200)),
    density=densities,
    seed=st.integers(0, 2**32 - 1),
)
def test_stream_split_round_trip(shape: tuple[int, int, int], density: float, seed: int) -> None:
    spikes = random_spikes(shape, density, seed)
    packets = encode_steps(2, spikes)
    stream = b"".join(packets)
    assert list(iter_packets(stream, shape[2])) == packets
    assert list(iter_packets(memoryview(stream), shape[2])) == packets


def test_stream_truncated_tail_is_refused() -> None:
    _, packets = steps_packets()
    stream = b"".join(packets)
    assert list(iter_packets(b"", 50)) == []
    with pytest.raises(PacketError, match="stream ends inside packet boundary 4 step 2 batch 1"):
        list(iter_packets(stream[:-1], 50))
    with pytest.raises(PacketError, match="shorter than its 17-byte header"):
        list(iter_packets(stream + b"\0" * 5, 50))
