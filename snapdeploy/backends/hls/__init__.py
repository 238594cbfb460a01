"""The HLS backend: a spiking partition as a generated HLS C++ LIF core, driven through PYNQ.

`compile` checks the partition against the device (cores, neurons per core, bit widths),
writes its parameter header into a build directory beside copies of hw/'s core sources (what
Vitis HLS would synthesize), and builds those sources with g++ as a C-simulation library,
cached by content hash. `load` opens the core through PYNQ's interface: on a board,
`pynq.Overlay` with the bitstream bitstreams/manifest.json lists for this build; otherwise an
emulated overlay whose device calls the C-simulation. The same driver runs against both.
"""

from __future__ import annotations

from pathlib import Path

from snapdeploy.backends.base import CompiledPartition, emulation_forced, register_backend
from snapdeploy.backends.hls.board import board_overlay
from snapdeploy.backends.hls.build import LIBRARY, build_library
from snapdeploy.backends.hls.driver import LifCoreDriver
from snapdeploy.backends.hls.emulator import CsimDevice, CsimOverlay
from snapdeploy.backends.hls.estimate import worst_case_cycles
from snapdeploy.backends.hls.executor import HlsExecutor
from snapdeploy.backends.hls.layout import core_layout, parameter_image
from snapdeploy.backends.hls.writer import write_sources
from snapdeploy.core.errors import BackendError
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import HlsDevice

SOURCES_DIR = "hls"


@register_backend
class HlsBackend:
    """Compiles spiking partitions to HLS LIF cores and runs them through a PYNQ driver."""

    kind = "hls"

    def compile(
        self, partition: SpikingPartition, device: HlsDevice, out: Path
    ) -> CompiledPartition:
        layout = core_layout(partition, device)
        out.mkdir(parents=True, exist_ok=True)
        partition.save(out)
        sources = write_sources(layout, partition.layers, out / SOURCES_DIR)
        _, build_hash = build_library(sources, out / SOURCES_DIR)
        return CompiledPartition.record_spiking(
            self.kind,
            partition,
            device,
            out,
            layer_sizes=layout.n_out,
            steps=partition.steps,
            part=device.part,
            board=device.board,
            clock_mhz=device.clock_mhz,
            bitstream=device.bitstream,
            build_hash=build_hash,
            weight_bits=layout.weight_bits,
            lanes=layout.lanes,
            worst_case_cycles_per_step=worst_case_cycles(layout),
        )

    def load(self, compiled: CompiledPartition) -> HlsExecutor:
        """On a board when the device names a bitstream, else (or under `deploy --emulate`)
        the C-simulation."""
        emulate = compiled.meta["bitstream"] is None or emulation_forced()
        return self.open(compiled, emulate=emulate)

    def open(self, compiled: CompiledPartition, emulate: bool) -> HlsExecutor:
        """An executor on the C-simulation (`emulate`) or on the FPGA of this machine."""
        partition = SpikingPartition.load(compiled.path, compiled.partition, compiled.meta["index"])
        overlay = (
            emulated_overlay(compiled)
            if emulate
            else board_overlay(compiled.meta["part"], compiled.meta["build_hash"])
        )
        image = parameter_image(partition.layers)
        return HlsExecutor(
            LifCoreDriver(overlay), image, compiled.meta["layer_sizes"], compiled.n_in
        )


def emulated_overlay(compiled: CompiledPartition) -> CsimOverlay:
    library = compiled.path / SOURCES_DIR / LIBRARY
    if not library.is_file():
        raise BackendError(f"{library} is missing; fix: compile the partition again")
    device = CsimDevice(library)
    expected = {
        "n_in": compiled.n_in,
        "n_out": compiled.n_out,
        "n_neurons": compiled.meta["neurons"],
    }
    built = {key: device.shape[key] for key in expected}
    if built != expected:
        raise BackendError(
            f"{library} was built for {built} but partition '{compiled.partition}' has "
            f"{expected}; fix: compile the partition again"
        )
    return CsimOverlay(device)
