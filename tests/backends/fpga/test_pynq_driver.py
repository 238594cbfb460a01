"""The FPGA driver is PYNQ host code (run here on the HLS core's C-simulation): against the emulated overlay it touches only what pynq's
real classes provide, so the same code runs on a board. Also: the emulated device behaves as
a board does where a driver could go wrong (unsynced buffers, clear-on-read ap_done), and a
board deployment without a matching bitstream is refused with how to build one."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga import spikes as packing
from snapdeploy.backends.fpga.board import BITSTREAMS_DIR, MANIFEST, board_overlay, find_bitstream
from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.fpga.overlay import CORE_BASE, CORE_NAME, EmulatedOverlay
from snapdeploy.backends.fpga.params import parameter_image
from snapdeploy.backends.fpga.pynq_api import DefaultIP, PynqBuffer, pynq
from snapdeploy.backends.hls import SOURCES_DIR, HlsBackend
from snapdeploy.backends.hls.csim import csim_overlay
from snapdeploy.core.errors import BackendError
from snapdeploy.core.graph import SpikingOp
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.partition import SpikingPartition
from snapdeploy.targets import HlsDevice

DEVICE = HlsDevice(
    name="fpga", part="xc7z020clg400-1", board="pynq-z2", lif_cores=4, neurons_per_core=256
)
LAYERS = [
    LifLayerParams(2 * np.arange(-12, 12).reshape(4, 6), 1, 200, 300, 20, np.arange(4), 2),
    LifLayerParams(np.full((3, 4), 100), 0, 0, 1000, 60, np.zeros(3, int), 0),
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory):
    ops = tuple(SpikingOp(f"layer{i}", p) for i, p in enumerate(LAYERS))
    partition = SpikingPartition(name="p1_spiking", index=1, ops=ops, steps=4)
    return HlsBackend().compile(partition, DEVICE, tmp_path_factory.mktemp("build"))


class Recorder:
    """Wraps an object and records every attribute the code under test reads from it."""

    def __init__(self, target: Any, seen: set[str], wrap: dict[str, Any] | None = None):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_seen", seen)
        object.__setattr__(self, "_wrap", wrap or {})

    def __getattr__(self, name: str) -> Any:
        self._seen.add(name)
        value = getattr(self._target, name)
        return self._wrap[name](value) if name in self._wrap else value


def public(cls: type) -> set[str]:
    """Methods and class attributes, plus the instance attributes its docstring documents."""
    documented = re.findall(
        r"^    (\w+) ?:", (cls.__doc__ or "").partition("Attributes")[2], re.MULTILINE
    )
    return {name for name in dir(cls) if not name.startswith("_")} | set(documented)


def test_driver_uses_only_what_pynq_provides(compiled) -> None:
    """Every attribute the driver reads from the overlay, its IP and its buffers exists on
    pynq.Overlay, pynq's DefaultIP and PynqBuffer; the IP and buffers *are* pynq's classes."""
    on_overlay: set[str] = set()
    on_ip: set[str] = set()
    on_buffers: set[str] = set()
    overlay = csim_overlay(compiled, SOURCES_DIR)
    spy = Recorder(overlay, on_overlay, {CORE_NAME: lambda ip: Recorder(ip, on_ip)})
    driver = LifCoreDriver(spy)
    assert type(driver.ip._target) is DefaultIP
    driver.load_params(parameter_image(LAYERS))
    spikes = np.random.default_rng(1).random((9, 2, 6)) < 0.5
    executor = FpgaExecutor(driver, parameter_image(LAYERS), [4, 3], 6)
    buffers = [driver.allocate(shape, dtype) for shape, dtype in (((2, 9, 1), np.uint32),) * 2]
    assert all(type(b) is PynqBuffer for b in buffers)
    state = driver.allocate((2, 21), np.int64)
    packing.pack(spikes, buffers[0])
    driver.run(*(Recorder(b, on_buffers) for b in (*buffers, state)))
    np.testing.assert_array_equal(
        packing.unpack(buffers[1], 3), ReferenceNetwork(LAYERS).run(spikes)[0]
    )
    np.testing.assert_array_equal(executor.run(spikes), ReferenceNetwork(LAYERS).run(spikes)[0])

    assert on_overlay <= public(pynq.Overlay) | {CORE_NAME}, on_overlay
    assert CORE_NAME in overlay.ip_dict
    assert on_ip and on_ip <= public(DefaultIP), on_ip
    assert on_buffers and on_buffers <= public(PynqBuffer), on_buffers


def test_emulated_overlay_is_a_subset_of_pynq_overlay() -> None:
    """Nothing the emulated overlay offers is missing from pynq.Overlay."""
    assert public(EmulatedOverlay) <= public(pynq.Overlay)


def test_emulated_device_is_a_pynq_device(compiled) -> None:
    """pynq's own allocate and MMIO drive it: the methods they call are its only additions."""
    device = csim_overlay(compiled, SOURCES_DIR).device
    assert isinstance(device, pynq.Device)
    added = public(type(device)) - public(pynq.Device)
    assert added <= {"read_registers", "write_registers", "flush", "invalidate"}, added
    buffer = pynq.allocate((4,), np.int32, target=device)
    assert type(buffer) is PynqBuffer and buffer.device is device
    ip = DefaultIP(csim_overlay(compiled, SOURCES_DIR).ip_dict[CORE_NAME])
    assert type(ip.mmio) is pynq.MMIO and ip.mmio.base_addr == CORE_BASE


def test_unsynced_buffers_are_not_seen(compiled) -> None:
    """As on a non-coherent board: the core sees host writes only after flush, and the host
    sees the core's writes only after invalidate."""
    device = csim_overlay(compiled, SOURCES_DIR).device
    buffer = pynq.allocate((4,), np.int32, target=device)
    buffer[:] = [1, 2, 3, 4]
    assert not buffer.bo.any()
    buffer.flush()
    np.testing.assert_array_equal(buffer.bo.view(np.int32), [1, 2, 3, 4])
    buffer.bo.view(np.int32)[:] = 9
    assert list(buffer) == [1, 2, 3, 4]
    buffer.invalidate()
    assert list(buffer) == [9, 9, 9, 9]


def test_ap_done_is_clear_on_read(compiled) -> None:
    overlay = csim_overlay(compiled, SOURCES_DIR)
    ip = overlay.lif_core_0
    ip.write(regmap.STEPS, 0)
    ip.write(regmap.BATCH, 0)
    ip.write(regmap.LOAD, 0)
    ip.write(regmap.CTRL, regmap.AP_START)
    assert ip.read(regmap.CTRL) & regmap.AP_DONE
    assert ip.read(regmap.CTRL) == regmap.AP_IDLE | regmap.AP_READY
    with pytest.raises(BackendError, match="outside the LIF core's AXI-Lite range"):
        overlay.device.read_registers(CORE_BASE + regmap.RANGE, 4)


def test_board_without_bitstream_says_how_to_build_one(compiled) -> None:
    with pytest.raises(
        BackendError, match="no bitstream .* xc7z020clg400-1 .*fix: build a bitstream.*--emulate"
    ):
        board_overlay(compiled.meta["part"], compiled.meta["build_hash"])


def test_manifest_entry_must_match_hash_map_and_files(tmp_path: Path) -> None:
    entry = {"name": "lif", "file": "lif.bit", "part": "xc7z020clg400-1", "build_hash": "ab" * 32}
    manifest = tmp_path / MANIFEST
    manifest.write_text(json.dumps({"bitstreams": [entry | {"register_map": {"ctrl": 0}}]}))
    with pytest.raises(BackendError, match="register map"):
        find_bitstream(entry["part"], entry["build_hash"], tmp_path)
    manifest.write_text(json.dumps({"bitstreams": [entry | {"register_map": regmap.as_dict()}]}))
    with pytest.raises(BackendError, match="lif.bit, .*lif.hwh is missing"):
        find_bitstream(entry["part"], entry["build_hash"], tmp_path)
    (tmp_path / "lif.bit").write_bytes(b"test stand-in")
    with pytest.raises(BackendError, match="listed but .*lif.hwh is missing"):
        find_bitstream(entry["part"], entry["build_hash"], tmp_path)
    (tmp_path / "lif.hwh").write_text("test stand-in")
    assert find_bitstream(entry["part"], entry["build_hash"], tmp_path) == tmp_path / "lif.bit"
    with pytest.raises(BackendError, match="no bitstream"):
        find_bitstream("xc7z010clg400-1", entry["build_hash"], tmp_path)


def test_a_bitstream_is_found_by_its_board_top_and_checked_against_its_sha256(
    tmp_path: Path,
) -> None:
    """A board top's entry shares its partition's build hash with the core's: the board
    hash tells them apart; a file whose bytes are not the recorded ones is refused."""
    core = {"name": "core", "file": "core.bit", "part": "lfe5u-85f", "build_hash": "ab" * 32}
    board = core | {"name": "board", "file": "board.bit", "board_hash": "cd" * 32}
    for entry in (core, board):
        (tmp_path / entry["file"]).write_bytes(entry["name"].encode())
        entry |= {"register_map": regmap.as_dict()}
        entry["sha256"] = hashlib.sha256(entry["name"].encode()).hexdigest()
    (tmp_path / MANIFEST).write_text(json.dumps({"bitstreams": [core, board]}))

    def find(board_hash: str) -> Path:
        return find_bitstream("lfe5u-85f", "ab" * 32, tmp_path, "fix it", board_hash, ())

    assert find("") == tmp_path / "core.bit"
    assert find("cd" * 32) == tmp_path / "board.bit"
    with pytest.raises(BackendError, match="from the board top efefefefefef around sources"):
        find("ef" * 32)
    (tmp_path / "board.bit").write_bytes(b"something else")
    with pytest.raises(BackendError, match="not the file that was built .*restore it from git"):
        find("cd" * 32)


def test_shipped_manifest_lists_only_files_that_exist() -> None:
    entries = json.loads((BITSTREAMS_DIR / MANIFEST).read_text())["bitstreams"]
    for entry in entries:
        assert (BITSTREAMS_DIR / entry["file"]).is_file(), entry
