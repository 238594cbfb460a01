"""Our Verilator model of the UP5K's SB_SPRAM256KA (rtl/core/lif_spram_model.v) behaves as the
primitive is documented to (Lattice's SPRAM usage guide; yosys' cells_sim.v): random cycles
of reads and masked writes, with chip select on and off, against a reference in Python; the
read word appears only after the clock edge of its read, is undefined (the model's poison)
after a write, and holds while chip select is low; power-on contents are not zeros."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.backends.rtl.build import verilator_path
from snapdeploy.backends.rtl.synth import SPRAM_MODEL
from snapdeploy.backends.rtl.writer import CORE_DIR

HARNESS = Path(__file__).with_name("spram_model_harness.cpp")
#: What the model gives for the read word after a write cycle (the primitive's is undefined).
UNDEFINED = 0xDEAD
#: A few addresses, so that reads meet earlier writes.
ADDRESSES = [0, 1, 0x1FFF, 0x3FFF]

Cycle = tuple[int, int, int, int, int]  # chipselect, wren, maskwren, address, datain


@pytest.fixture(scope="module")
def spram(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("spram")
    command = [
        verilator_path(),
        "--cc",
        "--exe",
        "--build",
        "--top-module",
        "SB_SPRAM256KA",
        "--Mdir",
        str(build),
        "-o",
        "spram_sim",
        str(CORE_DIR / SPRAM_MODEL),
        str(HARNESS),
    ]
    subprocess.run(command, check=True, capture_output=True)
    return build / "spram_sim"


def run(spram: Path, cycles: list[Cycle]) -> list[tuple[int, int]]:
    """DATAOUT before and after each cycle's rising edge."""
    lines = "".join(" ".join(map(str, cycle)) + "\n" for cycle in cycles)
    output = subprocess.run([spram], input=lines, capture_output=True, text=True, check=True)
    return [(int(a), int(b)) for a, b in (line.split() for line in output.stdout.splitlines())]


def expected(cycles: list[Cycle]) -> list[tuple[int | None, int | None]]:
    """The primitive's DATAOUT around each edge (None where it is not known: before any
    read or write, and a word not wholly written)."""
    memory: dict[int, int] = {}
    out: int | None = None
    seen = []
    for cs, wren, mask, address, data in cycles:
        before = out
        if cs and wren:
            bits = sum(0xF << (4 * k) for k in range(4) if mask >> k & 1)
            if address in memory or mask == 0xF:
                memory[address] = memory.get(address, 0) & ~bits | data & bits
            out = UNDEFINED
        elif cs:
            out = memory.get(address)
        seen.append((before, out))
    return seen


cycles = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 1, 1]),
        st.integers(0, 1),
        st.integers(0, 15),
        st.sampled_from(ADDRESSES),
        st.integers(0, 0xFFFF),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(cycles=cycles)
def test_the_model_reads_writes_and_masks_as_the_primitive(
    spram: Path, cycles: list[Cycle]
) -> None:
    # every address starts fully written, so each read's word is known
    prologue = [(1, 1, 0xF, a, 0x1111 * (i + 1)) for i, a in enumerate(ADDRESSES)]
    got = run(spram, prologue + cycles)
    want = expected(prologue + cycles)
    assert len(got) == len(want)
    for (before, after), (want_before, want_after) in zip(got, want):
        assert want_before is None or before == want_before
        assert want_after is None or after == want_after


def test_a_read_lands_after_its_edge_and_holds_without_chip_select(spram: Path) -> None:
    got = run(
        spram,
        [
            (1, 1, 0xF, 5, 0xBEEF),  # write
            (1, 0, 0x0, 5, 0),  # read: the word after this edge, not before
            (0, 1, 0xF, 5, 0x1234),  # chip select low: no write, DATAOUT held
            (1, 1, 0b0101, 5, 0x0A0B),  # nibbles 0 and 2 only
            (1, 0, 0x0, 5, 0),
        ],
    )
    assert got == [
        (got[0][0], UNDEFINED),
        (UNDEFINED, 0xBEEF),
        (0xBEEF, 0xBEEF),
        (0xBEEF, UNDEFINED),
        (UNDEFINED, 0xBAEB),
    ]


def test_power_on_contents_are_not_zeros(spram: Path) -> None:
    """SPRAM is not set by the bitstream: a board top that read a buffer before writing it
    would not see zeros, here as on the chip."""
    reads = run(spram, [(1, 0, 0, address, 0) for address in range(16)])
    assert len({after for _, after in reads}) > 8 and all(after for _, after in reads)
