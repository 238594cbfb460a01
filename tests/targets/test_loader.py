"""Target files: the shipped ones load, each kind becomes its dataclass, and every malformed file
is refused with a message that names the file, the place, the problem and the fix."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snapdeploy.core.errors import TargetError
from snapdeploy.targets import (
    DEVICE_TYPES,
    SHIPPED_TARGETS_DIR,
    HlsDevice,
    LavaDevice,
    LinkSpec,
    ReferenceDevice,
    SpiNNakerDevice,
    TorchDevice,
    kinds,
    load_target,
    shipped_targets,
)
from snapdeploy.targets.spec import RtlDevice

VALID = """\
[target]
name = "bench"
description = "a host and an FPGA"

[devices.host]
kind = "torch"
device = "cpu"

[devices.fpga]
kind = "hls"
part = "xc7z020clg400-1"
board = "pynq-z2"
lif_cores = 2
neurons_per_core = 64

[[links]]
from = "host"
to = "fpga"
bandwidth_gbps = 6.4
latency_ns = 1000.0
energy_pj_per_bit = 20.0
"""

LINK_BACK = """
[[links]]
from = "fpga"
to = "host"
bandwidth_gbps = 6.4
latency_ns = 1000.0
energy_pj_per_bit = 20.0
"""

SPINNAKER_KEYS = """\
width = 8
height = 8
torus = false
cores_per_chip = 16
neurons_per_core = 256
synapse_bytes_per_core = 1048576
packet_energy_pj = 1.0
hop_energy_pj = 1.0
"""

SPINNAKER = '[devices.board]\nkind = "spinnaker"\n' + SPINNAKER_KEYS

HLS_KEYS = """\
part = "xc7z020clg400-1"
board = "pynq-z2"
lif_cores = 2
neurons_per_core = 64
clock_mhz = 150
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> str:
    """Load a malformed file; return the message, which must start with the file's path."""
    path = write(tmp_path, text)
    with pytest.raises(TargetError) as raised:
        load_target(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    return message


def edited(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new, 1)


# --- shipped targets -------------------------------------------------------------------------


def test_the_design_targets_are_shipped() -> None:
    wanted = {"emulator", "pynq-z2", "spinn-3", "spinn-5", "loihi2-sim", "gpu-fpga"}
    assert wanted <= set(shipped_targets())


@pytest.mark.parametrize("name", shipped_targets())
def test_shipped_target_loads_with_its_devices_linked(name: str) -> None:
    target = load_target(name)
    assert target.name == name
    assert target.description
    assert target.path == (SHIPPED_TARGETS_DIR / f"{name}.toml").resolve()
    assert target.dense_devices()
    if target.spiking_devices():  # a SNAP die target (snap-3die) may be dense dies alone
        dense, spiking = target.dense_devices()[0], target.spiking_devices()[0]
        assert target.link_between(dense.name, spiking.name) is not None
    else:
        dies = [d.name for d in target.dense_devices()]
        assert all(target.link_between(a, b) for a, b in itertools.pairwise(dies))


def test_name_and_path_load_the_same_target() -> None:
    assert load_target("emulator") == load_target(SHIPPED_TARGETS_DIR / "emulator.toml")
    assert load_target("emulator") == load_target(str(SHIPPED_TARGETS_DIR / "emulator.toml"))


def test_spinn5_has_48_chips_and_spinn3_four() -> None:
    spinn5 = load_target("spinn-5").device("board")
    spinn3 = load_target("spinn-3").device("board")
    assert isinstance(spinn5, SpiNNakerDevice) and isinstance(spinn3, SpiNNakerDevice)
    # spinn_machine's Version5 chip map, column by column: x -> (lowest y, highest y)
    columns = {
        0: (0, 3),
        1: (0, 4),
        2: (0, 5),
        3: (0, 6),
        4: (0, 7),
        5: (1, 7),
        6: (2, 7),
        7: (3, 7),
    }
    expected = [(x, y) for x, (low, high) in columns.items() for y in range(low, high + 1)]
    assert spinn5.chips() == expected and len(expected) == 48
    assert spinn3.chips() == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_auto_torch_device_resolves_to_what_this_machine_has() -> None:
    host = load_target("emulator").device("host")
    assert isinstance(host, TorchDevice)
    assert host.resolve() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_a_cuda_device_this_machine_lacks_is_refused() -> None:
    missing = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(TargetError, match="fix: set device = 'auto' or 'cpu'"):
        TorchDevice("gpu", missing).resolve()


# --- each kind becomes its dataclass ---------------------------------------------------------

KIND_TABLES = {
    "torch": ("", TorchDevice, {"device": "auto"}),
    "reference": ("max_neurons = 1000", ReferenceDevice, {"max_neurons": 1000}),
    "lava": (
        "",
        LavaDevice,
        {"run_config": "sim", "select_tag": "fixed_pt", "neurons_per_core": 8192, "cores": 128},
    ),
    "hls": (
        HLS_KEYS,
        HlsDevice,
        {"weight_bits": 8, "state_bits": 24, "clock_mhz": 150.0, "bitstream": None},
    ),
    "rtl": (
        'part = "lfe5u-85f"\nboard = "ulx3s"\nneurons = 512',
        RtlDevice,
        {"part": "lfe5u-85f", "neurons": 512, "weight_bits": 8, "clock_mhz": 100.0},
    ),
    "spinnaker": (
        SPINNAKER_KEYS,
        SpiNNakerDevice,
        {"router_entries": 1024, "link_capacity_per_step": None, "layout": "grid"},
    ),
}


def test_every_kind_has_a_table_here() -> None:
    assert set(KIND_TABLES) == set(kinds()) == set(DEVICE_TYPES)


@pytest.mark.parametrize("kind", sorted(KIND_TABLES))
def test_kind_loads_as_its_dataclass(tmp_path: Path, kind: str) -> None:
    body, cls, expected = KIND_TABLES[kind]
    text = f'[target]\nname = "one"\n\n[devices.dev]\nkind = "{kind}"\n{body}\n'
    device = load_target(write(tmp_path, text)).device("dev")
    assert type(device) is cls and DEVICE_TYPES[kind] is cls
    assert (device.name, device.kind) == ("dev", kind)
    assert {key: getattr(device, key) for key in expected} == expected


def test_integers_are_accepted_for_floats_and_become_floats(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, edited("bandwidth_gbps = 6.4", "bandwidth_gbps = 6")))
    assert target.links[0].bandwidth_gbps == 6.0
    assert isinstance(target.links[0].bandwidth_gbps, float)


# --- the Target API ---------------------------------------------------------------------------


def test_target_lookups(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, VALID))
    assert [device.name for device in target.devices_of_kind("hls", "torch")] == ["host", "fpga"]
    assert [device.name for device in target.spiking_devices()] == ["fpga"]
    assert [device.name for device in target.dense_devices()] == ["host"]
    assert target.link_between("fpga", "host") is target.link_between("host", "fpga")
    assert target.link_between("host", "host") is None
    with pytest.raises(TargetError, match="no device 'fgpa'; did you mean 'fpga'"):
        target.device("fgpa")
    with pytest.raises(TargetError, match="no device kind 'spinaker'; did you mean 'spinnaker'"):
        target.devices_of_kind("spinaker")


# --- malformed files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            edited("neurons_per_core = 64", "neurons_per_cor = 64"),
            [
                "[devices.fpga] (kind 'hls') has unknown key 'neurons_per_cor'",
                "did you mean 'neurons_per_core'?",
                "fix: rename or remove it",
            ],
            id="typo-suggests-key",
        ),
        pytest.param(
            edited('kind = "hls"', 'kind = "hsl"'),
            [
                "[devices.fpga] has unknown kind 'hsl'; did you mean 'hls'?",
                "'torch', 'reference', 'lava', 'hls', 'rtl', 'spinnaker'",
            ],
            id="unknown-kind",
        ),
        pytest.param(
            edited('kind = "torch"\n', ""),
            ["[devices.host] has no kind; fix: set kind"],
            id="missing-kind",
        ),
        pytest.param(
            edited('part = "xc7z020clg400-1"\n', ""),
            [
                "[devices.fpga] (kind 'hls') is missing required key 'part'",
                "fix: add part = <a non-empty string>",
            ],
            id="missing-key",
        ),
        pytest.param(
            edited("lif_cores = 2", "lif_cores = true"),
            [
                "[devices.fpga] lif_cores = true has the wrong type (boolean)",
                "fix: set lif_cores to an integer >= 1",
            ],
            id="bool-is-not-int",
        ),
        pytest.param(
            edited("neurons_per_core = 64", 'neurons_per_core = "64"'),
            ["neurons_per_core = '64' has the wrong type (string)"],
            id="string-is-not-int",
        ),
        pytest.param(
            edited("lif_cores = 2", "lif_cores = 2.0"),
            ["lif_cores = 2.0 has the wrong type (float)"],
            id="float-is-not-int",
        ),
        pytest.param(
            edited("lif_cores = 2", "lif_cores = 0"),
            ["lif_cores = 0 is out of range", "an integer >= 1"],
            id="zero-cores",
        ),
        pytest.param(
            edited("lif_cores = 2", "lif_cores = 2\nweight_bits = 33"),
            ["weight_bits = 33 is out of range", "an integer from 1 to 32"],
            id="bit-width",
        ),
        pytest.param(
            edited("bandwidth_gbps = 6.4", "bandwidth_gbps = 0.0"),
            ["[[links]] 'host' -> 'fpga' bandwidth_gbps = 0.0 is out of range", "a number > 0"],
            id="zero-bandwidth",
        ),
        pytest.param(
            edited('device = "cpu"', 'device = "gpu"'),
            ["device = 'gpu' is not an accepted value", "'auto', 'cpu', 'cuda' or 'cuda:N'"],
            id="torch-device-string",
        ),
        pytest.param(
            edited('to = "fpga"', 'to = "fpag"'),
            [
                "[[links]] 'host' -> 'fpag': target 'bench' has no device 'fpag'",
                "did you mean 'fpga'?",
                "fix: use one of its devices: host, fpga",
            ],
            id="link-to-unknown-device",
        ),
        pytest.param(
            edited('to = "fpga"', 'to = "host"'), ["links a device to itself"], id="self-link"
        ),
        pytest.param(
            VALID + LINK_BACK, ["[[links]] 'fpga' -> 'host' repeats a link"], id="duplicate-link"
        ),
        pytest.param(
            edited("latency_ns", "latency"),
            ["[[links]] #1 has unknown key 'latency'; did you mean 'latency_ns'?"],
            id="link-key-typo",
        ),
        pytest.param(
            edited("[[links]]", "[links]"),
            ["links must be an array of tables", "[[links]]"],
            id="links-not-array",
        ),
        pytest.param(
            edited("[target]", "[targets]"),
            ["the top level has unknown key 'targets'; did you mean 'target'?"],
            id="unknown-section",
        ),
        pytest.param(
            edited('name = "bench"\n', ""),
            ["[target] is missing required key 'name'"],
            id="missing-name",
        ),
        pytest.param(
            '[target]\nname = "empty"\n',
            ["target 'empty' has no devices", "fix: add at least one [devices.<name>]"],
            id="no-devices",
        ),
        pytest.param(
            '[target]\nname = "flat"\n[devices]\nhost = "torch"\n',
            ["[devices] host = 'torch' is not a table", "[devices.host]"],
            id="device-not-a-table",
        ),
        pytest.param(
            f'[target]\nname = "big"\n{SPINNAKER}width = 9\n',
            ["Cannot overwrite a value"],
            id="duplicate-key-is-a-syntax-error",
        ),
        pytest.param(
            f'[target]\nname = "big"\n{SPINNAKER.replace("width = 8", "width = 9")}'
            'layout = "spinn5"\n',
            [
                "[devices.board] layout = 'spinn5' is one 48-chip board",
                "width = 9",
                "fix: set width = 8, height = 8, torus = false",
            ],
            id="spinn5-needs-8x8",
        ),
    ],
)
def test_malformed_file_is_refused_with_its_fix(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    message = load_error(tmp_path, text)
    for fragment in expected:
        assert fragment in message


def test_syntax_error_keeps_line_and_column(tmp_path: Path) -> None:
    text = edited("lif_cores = 2", "lif_cores = ")
    line = text.splitlines().index("lif_cores = ") + 1
    message = load_error(tmp_path, text)
    assert "not valid TOML" in message and f"line {line}" in message and "column" in message


def test_unknown_target_name_lists_the_shipped_ones() -> None:
    with pytest.raises(TargetError) as raised:
        load_target("emulatr")
    message = str(raised.value)
    assert "emulatr.toml not found; did you mean 'emulator'?" in message
    assert ", ".join(shipped_targets()) in message


def test_missing_file_path_lists_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="not found;.*shipped target: emulator"):
        load_target(tmp_path / "nowhere.toml")


# --- specs built in code obey the same rules ------------------------------------------------


@given(st.integers(min_value=-100, max_value=100))
def test_weight_bits_accepted_exactly_from_1_to_32(bits: int) -> None:
    def build() -> HlsDevice:
        return HlsDevice(
            "fpga",
            part="xc7z020clg400-1",
            board="pynq-z2",
            lif_cores=1,
            neurons_per_core=1,
            weight_bits=bits,
        )

    if 1 <= bits <= 32:
        assert build().weight_bits == bits
    else:
        with pytest.raises(TargetError, match=f"weight_bits = {bits} is out of range"):
            build()


def test_specs_in_code_are_checked_and_widened() -> None:
    link = LinkSpec("a", "b", bandwidth_gbps=1, latency_ns=0, energy_pj_per_bit=0)
    assert isinstance(link.bandwidth_gbps, float)
    with pytest.raises(TargetError, match=r"\[devices.ref\] max_neurons = 0 is out of range"):
        ReferenceDevice("ref", max_neurons=0)


def test_shipped_targets_load_without_importing_any_backend() -> None:
    """A target file names only kinds the targets package knows by itself: a board-side
    process (or a user) can load one without the backend registry having been imported."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from snapdeploy.targets import load_target, shipped_targets\n"
        "for name in shipped_targets():\n"
        "    load_target(name)\n"
        "assert 'snapdeploy.backends' not in sys.modules, 'targets imported the backends'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
