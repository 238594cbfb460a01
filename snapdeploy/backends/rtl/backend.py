"""The RTL backend: a spiking partition on the Verilog LIF core, driven through PYNQ.

`compile` lays the partition out for the core (capacities, layer table), writes its header
and power-on data beside copies of the core in a build directory (what yosys is given), and
builds the core's Verilator simulation, cached per design (on a PYNQ-Z2's part, the Zynq top:
the core behind its AXI4 master, as that board's block design holds it). `load` opens the
core through the FPGA driver of `backends.fpga` over an emulated overlay whose core model is
the simulation, or, where the device names a board link and emulation is not forced, over
the link to the board top (its serial port, or the board top's own simulation behind a
pipe).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.backends.base import (
    CompiledPartition,
    ExecutorBase,
    SpikingBackend,
    board_requested,
    emulation_forced,
)
from snapdeploy.backends.fpga.board import BITSTREAMS_DIR, board_overlay, find_bitstream, no_board
from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.fpga.link import BoardLink, SerialStream
from snapdeploy.backends.fpga.link_device import LinkOverlay
from snapdeploy.backends.fpga.params import parameter_image
from snapdeploy.backends.fpga.sources import source_hash
from snapdeploy.core.errors import BackendError
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import RtlDevice

from .board_program import board_bitstream, load_command, program_board
from .board_sim import board_simulation
from .build import LIBRARY, build_model
from .engines import ENGINES
from .fit import check_memory
from .layout import RtlLayout, rtl_layout
from .parallel import simulated_executor, simulation_threads
from .probe import measured_cycles_per_step
from .sim import SIMULATIONS, VerilatorCore, rtl_overlay, simulation_for
from .synth import board_top
from .writer import write_sources

SOURCES_DIR = "rtl"
#: Parts whose board is a Zynq run by pynq: those simulated as the Zynq top.
PYNQ_PARTS = frozenset(SIMULATIONS)
HOW_TO_BUILD = (
    "run hw/rtl/build.tcl in Vivado in the partition's rtl/ folder, copy its lif.bit and "
    f"lif.hwh into {BITSTREAMS_DIR} under one name (NAME.bit, NAME.hwh) and add their entry "
    "to its manifest.json as hw/README.md describes (file, kind, part, build_hash from the "
    "partition's compiled.json, register_map)"
)


class RtlBackend(SpikingBackend):
    """Compiles spiking partitions to the RTL LIF core; runs them in Verilator or on a board."""

    kind = "rtl"
    layer_kinds = frozenset({"dense", "delay", "conv", "pool", "subtract_reset"})

    def __init__(
        self, engines: frozenset[str] | None = None, sim_threads: int | None = None
    ) -> None:
        """Cores built with `engines` (engines.ENGINES), or by default with those each
        partition's layers use; a partition needing one a fixed set lacks is refused.
        `sim_threads`: how many simulated cores a simulated run's batch is split across, one
        thread each (by default $SNAPDEPLOY_RTL_SIM_THREADS, else the CPUs this process may
        use; 1: the whole batch on one core); the hardware is one core either way."""
        self.engines = engines
        self.sim_threads = None if sim_threads is None else simulation_threads(sim_threads)

    def neuron_capacity(self, device: RtlDevice) -> int:
        return device.neurons

    def prepare(self, partition: SpikingPartition, device: RtlDevice) -> RtlLayout:
        """The layout, refused where the core's memories (estimated) exceed the part's
        block RAM."""
        layout = rtl_layout(partition, device, self.engines)
        check_memory(layout, device)
        return layout

    def emit(
        self, prepared: RtlLayout, partition: SpikingPartition, device: RtlDevice, out: Path
    ) -> dict[str, Any]:
        sources_dir = out / SOURCES_DIR
        model, _ = simulation_for(device.part)
        sources = write_sources(prepared, partition.layers, sources_dir, model.files)
        temp = sources_dir / f".{LIBRARY}.tmp"
        shutil.copyfile(build_model(sources_dir, model), temp)
        os.replace(temp, sources_dir / LIBRARY)
        return {
            "layer_sizes": prepared.n_out,
            "layer_inputs": prepared.n_in,
            "steps": partition.steps,
            "part": device.part,
            "board": device.board,
            "clock_mhz": device.clock_mhz,
            "link": device.link,
            "build_hash": source_hash(sources),
            "weight_bits": prepared.weight_bits,
            "capacities": prepared.caps,
            "engines": sorted(prepared.engines),
            "layer_table": prepared.layer_table().tolist(),
        }

    def open(self, compiled: CompiledPartition, partition: SpikingPartition) -> ExecutorBase:
        """The board top over its link when the device names one (unless emulation is
        forced); under `deploy --board`, a PYNQ part's bitstream through pynq; else the core's
        Verilator simulation behind the emulated overlay, a run's batch split across
        `sim_threads` simulated cores (`parallel.py`)."""

        image = parameter_image(partition.layers)

        def executor(overlay: Any) -> FpgaExecutor:
            return FpgaExecutor(
                LifCoreDriver(overlay),
                image,
                compiled.meta["layer_sizes"],
                compiled.n_in,
                [getattr(p, "delay_depth", 0) for p in partition.layers],
            )

        overlay = None if emulation_forced() else self._hardware_overlay(compiled)
        if overlay is not None:
            return executor(overlay)

        def simulated() -> FpgaExecutor:
            """An executor over a fresh model, the model closed if the executor fails."""
            model_overlay = self.simulation(compiled)[0]
            try:
                return executor(model_overlay)
            except BaseException:
                model_overlay.free()
                raise

        return simulated_executor(simulated, simulation_threads(self.sim_threads))

    @staticmethod
    def _hardware_overlay(compiled: CompiledPartition) -> Any:
        """The overlay of the board (or the board top's simulation) the device names, or None
        where the partition runs as the core's Verilator simulation."""
        link = compiled.meta.get("link")
        part = compiled.meta["part"]
        sources = compiled.path / SOURCES_DIR
        if link == "simulation":
            if board_requested():  # the board, its host side emulated: its bitstream exists
                board_bitstream(compiled, sources)
            return board_simulation(sources)
        if link is not None:
            program_board(compiled, sources)
            buffer_bytes = board_top(part).buffer_bytes
            link_stream = BoardLink(SerialStream(link))
            return LinkOverlay(link_stream, link, VerilatorCore.ip_type, buffer_bytes)
        if board_requested() and part in PYNQ_PARTS:
            return board_overlay(part, compiled.meta["build_hash"], HOW_TO_BUILD)
        return None

    @staticmethod
    def board_problem(compiled: CompiledPartition, device_problem: str | None) -> str | None:
        """Why `deploy --board` cannot run `compiled` (`device_problem`: its device's answer,
        a missing link), checked before anything runs. A board top on a link needs its
        bitstream in the manifest; a PYNQ part needs no link, but pynq must find the FPGA and
        the manifest must list the partition's bitstream."""
        part = compiled.meta["part"]
        link = compiled.meta.get("link")
        if link is not None:
            try:
                bitstream = board_bitstream(compiled, compiled.path / SOURCES_DIR)
                if link != "simulation":
                    load_command(compiled, bitstream)
            except BackendError as exc:
                return f"cannot load its board top: {exc}"
        if device_problem is None or part not in PYNQ_PARTS:
            return device_problem
        wanted = f"the bitstream for part {part} from sources {compiled.meta['build_hash'][:12]}"
        problem = no_board()
        if problem is not None:
            return (
                f"{problem} to load {wanted}; fix: run on the PYNQ board (its bitstream: "
                f"{HOW_TO_BUILD}), or use --emulate"
            )
        try:
            find_bitstream(part, compiled.meta["build_hash"], how_to_build=HOW_TO_BUILD)
        except BackendError as exc:
            return f"cannot be opened through pynq: {exc}"
        return None

    @staticmethod
    def simulation(compiled: CompiledPartition) -> tuple[Any, VerilatorCore]:
        """The emulated overlay of a compiled partition's simulation, and the simulation."""
        library = compiled.path / SOURCES_DIR / LIBRARY
        if not library.is_file():
            raise BackendError(f"{library} is missing; fix: compile the partition again")
        table = np.array(compiled.meta["layer_table"], dtype=np.uint32)
        _, core_class = simulation_for(compiled.meta["part"])
        # a build from before the engines were optional has every one
        engines = frozenset(compiled.meta.get("engines", ENGINES))
        return rtl_overlay(library, table, engines, core_class)

    def cycles_per_step(
        self, partition: SpikingPartition, device: RtlDevice, events_in: float
    ) -> float:
        """Measured in the core's simulation at `events_in` input spikes per step (the build
        is cached, so a compiled partition's report rebuilds nothing)."""
        layout = rtl_layout(partition, device, self.engines)
        model, core_class = simulation_for(device.part)
        with tempfile.TemporaryDirectory() as scratch:
            sources = Path(scratch)
            write_sources(layout, partition.layers, sources, model.files)
            library = build_model(sources, model)
            overlay, core = rtl_overlay(library, layout.layer_table(), layout.engines, core_class)
        driver = LifCoreDriver(overlay)
        driver.load_params(parameter_image(partition.layers))
        return measured_cycles_per_step(
            driver,
            core,
            partition.n_in,
            partition.n_out,
            2 * layout.n_neurons + layout.n_pending,
            events_in,
        )
