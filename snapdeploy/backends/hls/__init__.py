"""The HLS backend: a spiking partition as a generated HLS C++ LIF core, driven through PYNQ.

It runs every layer kind (base.LAYER_KINDS): Dense, DelayDense, conv and sum pool synapses on
the core's synapse engines, LIF neurons resetting to zero or by subtraction.

`compile` checks the partition against the device (cores, neurons per core, bit widths),
writes its parameter header into a build directory beside copies of the core's sources in core/ (what
Vitis HLS would synthesize), and builds those sources with g++ as a C-simulation library,
cached by content hash. `load` opens the core through the FPGA driver of `backends.fpga`: on
a board, `pynq.Overlay` with the bitstream fpga/bitstreams/manifest.json lists for this build;
otherwise an emulated overlay whose core model is the C-simulation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snapdeploy.backends.base import (
    LAYER_KINDS,
    CompiledPartition,
    SpikingBackend,
    emulation_forced,
)
from snapdeploy.backends.fpga.board import board_overlay
from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.fpga.params import parameter_image
from snapdeploy.backends.hls.build import build_library
from snapdeploy.backends.hls.csim import csim_overlay
from snapdeploy.backends.hls.estimate import cycles_per_step, memory_bits, worst_case_cycles
from snapdeploy.backends.hls.fit import check_memory
from snapdeploy.backends.hls.layout import CoreLayout, core_layout
from snapdeploy.backends.hls.writer import write_sources
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import HlsDevice

SOURCES_DIR = "hls"


class HlsBackend(SpikingBackend):
    """Compiles spiking partitions to HLS LIF cores and runs them through a PYNQ driver."""

    kind = "hls"
    layer_kinds = LAYER_KINDS

    def neuron_capacity(self, device: HlsDevice) -> int:
        return device.lif_cores * device.neurons_per_core

    def prepare(self, partition: SpikingPartition, device: HlsDevice) -> CoreLayout:
        """The layout, refused where the core's on-chip memories (estimated) exceed the
        part's block RAM."""
        layout = core_layout(partition, device)
        check_memory(memory_bits(layout), partition, device)
        return layout

    def emit(
        self, prepared: CoreLayout, partition: SpikingPartition, device: HlsDevice, out: Path
    ) -> dict[str, Any]:
        sources = write_sources(prepared, partition.layers, out / SOURCES_DIR)
        _, build_hash = build_library(sources, out / SOURCES_DIR)
        return {
            "layer_sizes": prepared.n_out,
            "steps": partition.steps,
            "part": device.part,
            "board": device.board,
            "clock_mhz": device.clock_mhz,
            "bitstream": device.bitstream,
            "build_hash": build_hash,
            "weight_bits": prepared.weight_bits,
            "lanes": prepared.lanes,
            "worst_case_cycles_per_step": worst_case_cycles(prepared),
            "memory_bits_estimate": memory_bits(prepared),
        }

    def open(self, compiled: CompiledPartition, partition: SpikingPartition) -> FpgaExecutor:
        """On a board when the device names a bitstream, else (or under `deploy --emulate`)
        the C-simulation."""
        emulate = compiled.meta["bitstream"] is None or emulation_forced()
        return self.open_on(compiled, partition, emulate)

    def open_on(
        self, compiled: CompiledPartition, partition: SpikingPartition, emulate: bool
    ) -> FpgaExecutor:
        """An executor on the C-simulation (`emulate`) or on the FPGA of this machine."""
        overlay = (
            csim_overlay(compiled, SOURCES_DIR)
            if emulate
            else board_overlay(compiled.meta["part"], compiled.meta["build_hash"])
        )
        return FpgaExecutor(
            LifCoreDriver(overlay),
            parameter_image(partition.layers),
            compiled.meta["layer_sizes"],
            compiled.n_in,
            [getattr(p, "delay_depth", 0) for p in partition.layers],
        )

    def cycles_per_step(
        self, partition: SpikingPartition, device: HlsDevice, events_in: float
    ) -> float:
        """The core's cycle estimate per step: `events_in` input events for the first layer,
        every input spiking (the upper bound) for inner layers, whose spikes are not recorded."""
        layout = core_layout(partition, device)
        return cycles_per_step(layout, [events_in, *map(float, layout.n_in[1:])])
