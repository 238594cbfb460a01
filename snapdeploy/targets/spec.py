"""What a deployment target is: its devices, each with the limits of its kind, and its links.

Partitioning and every backend read these frozen dataclasses instead of raw TOML. Each limit is
declared once, on its field (see `schema.limit`), and checked when the object is made, so a
spec that exists is a valid one, whether it was loaded from a file or built in code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Self

from snapdeploy.core.errors import TargetError
from snapdeploy.core.extras import needs
from snapdeploy.targets.schema import Checked, did_you_mean, limit

Role = Literal["dense", "spiking"]

_COUNT = {"ge": 1}
_BITS = {"ge": 1, "le": 32}
_POSITIVE = {"gt": 0}
_NON_NEGATIVE = {"ge": 0}


@dataclass(frozen=True)
class DeviceSpec(Checked):
    """One device of a target: `name` is its table name in the file, `kind` picks its backend.

    `role` says which partitions it runs: dense ones (torch) or spiking ones (the rest).
    """

    role: ClassVar[Role] = "spiking"
    name: str
    kind: str
    #: Where `snapdeploy serve` runs this device's partition ("tcp://HOST:PORT", a board the
    #: host reaches over ZeroMQ); none = on this machine.
    host: str | None = limit(
        None, pattern=r"tcp://[\w.\-]+:\d+", hint="'tcp://HOST:PORT'", kw_only=True
    )

    def location(self) -> str:
        return f"[devices.{self.name}]"


@dataclass(frozen=True)
class TorchDevice(DeviceSpec):
    """Runs dense partitions through torch on `device`: 'auto', 'cpu', 'cuda' or 'cuda:N'."""

    role: ClassVar[Role] = "dense"
    kind: str = field(default="torch", init=False)
    device: str = limit(
        "auto", pattern=r"auto|cpu|cuda(:\d+)?", hint="'auto', 'cpu', 'cuda' or 'cuda:N'"
    )
    #: A die's dense compute (SNAP targets): throughput and energy per MAC at its precision;
    #: none = the constants' dense accelerator (dense_macs_per_ns, fp16 multiply + add).
    macs_per_ns: float | None = limit(None, **_POSITIVE)
    pj_per_mac: float | None = limit(None, **_POSITIVE)

    def resolve(self) -> str:
        """The torch device string to use on this machine ('auto' = cuda when torch sees a GPU).

        Refuses a CUDA device this machine does not have, here rather than deep in a run.
        """
        with needs("train", __name__):
            import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda"):
            index = int(self.device.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise TargetError(
                    f"{self.location()} device = {self.device!r} but torch sees "
                    f"{torch.cuda.device_count()} CUDA GPU(s) here; fix: set "
                    f"device = 'auto' or 'cpu', or run on a machine with that GPU"
                )
        return self.device


@dataclass(frozen=True)
class ReferenceDevice(DeviceSpec):
    """The numpy integer reference, run in this process; `max_neurons` caps it (none = no cap)."""

    kind: str = field(default="reference", init=False)
    max_neurons: int | None = limit(None, **_COUNT)

    @classmethod
    def holding(cls, name: str, neurons: int) -> Self:
        """The smallest device of this kind with room for `neurons` neurons in all."""
        return cls(name=name, max_neurons=neurons)


@dataclass(frozen=True)
class LavaDevice(DeviceSpec):
    """Lava processes run with `run_config` ('sim' = Loihi2SimCfg, 'hw' = Loihi2HwCfg).

    Only `select_tag = 'fixed_pt'` computes the integer neuron the reference does.
    """

    kind: str = field(default="lava", init=False)
    run_config: str = limit("sim", choices=("sim", "hw"))
    select_tag: str = limit("fixed_pt", choices=("fixed_pt", "floating_pt"))
    neurons_per_core: int = limit(8192, **_COUNT)
    cores: int = limit(128, **_COUNT)

    @classmethod
    def holding(cls, name: str, neurons: int) -> Self:
        """The smallest device of this kind with room for `neurons` neurons in all."""
        return cls(name=name, neurons_per_core=neurons, cores=1)


@dataclass(frozen=True)
class HlsDevice(DeviceSpec):
    """HLS LIF cores on an FPGA `part`, driven through a PYNQ-style interface on `board`.

    `bitstream` names a built bitstream under bitstreams/; none means C-simulation only.
    """

    kind: str = field(default="hls", init=False)
    part: str = limit()
    board: str = limit()
    lif_cores: int = limit(**_COUNT)
    neurons_per_core: int = limit(**_COUNT)
    weight_bits: int = limit(8, **_BITS)
    state_bits: int = limit(24, **_BITS)
    clock_mhz: float = limit(100.0, **_POSITIVE)
    bitstream: str | None = limit(None)

    @classmethod
    def holding(cls, name: str, neurons: int) -> Self:
        """The smallest device of this kind with room for `neurons` neurons in all: one
        neuron per core, so layers of any widths fit (each layer takes whole cores)."""
        return cls(
            name=name,
            part="xc7z020clg400-1",
            board="pynq-z2",
            lif_cores=neurons,
            neurons_per_core=1,
        )


@dataclass(frozen=True)
class SpiNNakerDevice(DeviceSpec):
    """A SpiNNaker-style board: a `width` x `height` chip grid, wrapped into a torus or not.

    `layout = 'spinn5'` is the 48-chip SpiNN-5 board: the chips (x, y) of an 8x8 grid with
    -4 <= y - x <= 3 (the chip map of spinn_machine's Version5), never wrapped on one board.
    `link_capacity_per_step` caps packets per chip-to-chip link per time step (none = no cap).
    """

    kind: str = field(default="spinnaker", init=False)
    width: int = limit(**_COUNT)
    height: int = limit(**_COUNT)
    torus: bool = limit()
    cores_per_chip: int = limit(**_COUNT)
    neurons_per_core: int = limit(**_COUNT)
    synapse_bytes_per_core: int = limit(**_COUNT)
    packet_energy_pj: float = limit(**_NON_NEGATIVE)
    hop_energy_pj: float = limit(**_NON_NEGATIVE)
    router_entries: int = limit(1024, **_COUNT)
    link_capacity_per_step: int | None = limit(None, **_COUNT)
    layout: str = limit("grid", choices=("grid", "spinn5"))

    @classmethod
    def holding(cls, name: str, neurons: int) -> Self:
        """A one-chip board with room for `neurons` neurons in all (exactly that many up to
        16 neurons; 1 MB of synaptic memory per core, no energy)."""
        cores = min(neurons, 16)
        return cls(
            name=name,
            width=1,
            height=1,
            torus=False,
            cores_per_chip=cores,
            neurons_per_core=math.ceil(neurons / cores),
            synapse_bytes_per_core=1 << 20,
            packet_energy_pj=0.0,
            hop_energy_pj=0.0,
        )

    @property
    def neurons(self) -> int:
        """How many neurons the board holds: every core of every chip full."""
        return len(self.chips()) * self.cores_per_chip * self.neurons_per_core

    def chips(self) -> list[tuple[int, int]]:
        """Coordinates (x, y) of the chips that exist, in x-major order."""
        grid = [(x, y) for x in range(self.width) for y in range(self.height)]
        if self.layout == "spinn5":
            return [(x, y) for x, y in grid if -4 <= y - x <= 3]
        return grid

    def check_consistency(self) -> None:
        if self.layout == "spinn5" and (self.width, self.height, self.torus) != (8, 8, False):
            raise TargetError(
                f"{self.location()} layout = 'spinn5' is one 48-chip board on an "
                f"8x8 grid without wrap-around, but width = {self.width}, height = "
                f"{self.height}, torus = {str(self.torus).lower()}; fix: set "
                f"width = 8, height = 8, torus = false, or layout = 'grid'"
            )


#: Parts `snapdeploy synth` places and routes (or, for Xilinx, synthesizes only).
RTL_PARTS = ("xc7z020", "lfe5u-85f", "up5k")


@dataclass(frozen=True)
class RtlDevice(DeviceSpec):
    """One RTL LIF core on FPGA `part` of `board`, holding up to `neurons` neurons in all.

    It runs as its Verilator simulation; `snapdeploy synth` builds its bitstreams. `link` is
    how `deploy --board` reaches its board top (rtl/core/lif_board.v): the serial port of the
    board (e.g. "/dev/ttyUSB0"; the partition's board bitstream is loaded first with
    openFPGALoader), or "simulation" for the board top in Verilator behind a pipe, speaking
    the same bytes; none refuses `--board`.
    """

    #: What the report's FPGA cost says of the cycles it prices (`backend.cycles_per_step`).
    cycles_source: ClassVar[str] = "cycles measured in the core's Verilator simulation"
    kind: str = field(default="rtl", init=False)
    part: str = limit(choices=RTL_PARTS)
    board: str = limit()
    neurons: int = limit(ge=1)
    weight_bits: int = limit(8, ge=1, le=16)
    clock_mhz: float = limit(100.0, gt=0)
    link: str | None = limit(None)

    @classmethod
    def holding(cls, name: str, neurons: int) -> Self:
        """An ECP5-85F core (the ULX3S board's) with room for `neurons` neurons in all."""
        return cls(name=name, part="lfe5u-85f", board="ulx3s", neurons=neurons)


#: The spec class of each device kind a target file may name. The shipped kinds are listed
#: here; a backend registered later adds its own through `register_device_type`.
DEVICE_TYPES: dict[str, type[DeviceSpec]] = {
    cls.kind: cls
    for cls in (TorchDevice, ReferenceDevice, LavaDevice, HlsDevice, RtlDevice, SpiNNakerDevice)
}


def register_device_type(cls: type[DeviceSpec]) -> None:
    """Let target files name `cls.kind` (done by `backends.registry.register_kind`)."""
    known = DEVICE_TYPES.get(cls.kind)
    if known is not None and known is not cls:
        raise TargetError(
            f"device kind {cls.kind!r} is already served by {known.__name__}; fix: give "
            f"{cls.__name__} a kind of its own"
        )
    DEVICE_TYPES[cls.kind] = cls


def kinds(role: Role | None = None) -> tuple[str, ...]:
    """Every known device kind, or those of one role."""
    return tuple(k for k, cls in DEVICE_TYPES.items() if role is None or cls.role == role)


@dataclass(frozen=True)
class LinkSpec(Checked):
    """A link between two devices; it carries spikes and tensors both ways."""

    src: str = limit(key="from")
    dst: str = limit(key="to")
    bandwidth_gbps: float = limit(**_POSITIVE)
    latency_ns: float = limit(**_NON_NEGATIVE)
    energy_pj_per_bit: float = limit(**_NON_NEGATIVE)
    #: A named link class (targets/links.py) whose constants filled the figures it left out.
    link_class: str | None = limit(None, key="class")

    def location(self) -> str:
        return f"[[links]] {self.src!r} -> {self.dst!r}"

    def check_consistency(self) -> None:
        if self.src == self.dst:
            raise TargetError(
                f"{self.location()} links a device to itself; fix: set 'to' to "
                f"another device or remove this link"
            )


@dataclass(frozen=True)
class Target:
    """A loaded target file: its devices by name and the links between them.

    Made only with devices that exist and links that name them, so lookups by name can trust it.
    """

    name: str
    description: str
    path: Path
    devices: dict[str, DeviceSpec]
    links: list[LinkSpec]
    mapping: dict[str, str] = field(default_factory=dict)  # partition name -> device name

    def __post_init__(self) -> None:
        if not self.devices:
            raise TargetError(
                f"target {self.name!r} has no devices; fix: add at least one "
                f"[devices.<name>] table with a kind ({', '.join(kinds())})"
            )
        misnamed = [key for key, device in self.devices.items() if key != device.name]
        if misnamed:
            raise TargetError(
                f"target {self.name!r} holds device "
                f"{self.devices[misnamed[0]].name!r} under the name {misnamed[0]!r}; "
                f"fix: key each device by its own name"
            )
        for partition, device in self.mapping.items():
            if device not in self.devices:
                raise self._no_device(device, f" ([mapping] {partition} = {device!r})")
        seen: set[frozenset[str]] = set()
        for link in self.links:
            for end in (link.src, link.dst):
                if end not in self.devices:
                    raise self._no_device(end, where=f"{link.location()}: ")
            pair = frozenset((link.src, link.dst))
            if pair in seen:
                raise TargetError(
                    f"{link.location()} repeats a link between these two devices "
                    f"(links carry data both ways); fix: keep one of them"
                )
            seen.add(pair)

    def device(self, name: str) -> DeviceSpec:
        """The device called `name`; an unknown name gets the closest one suggested."""
        if name in self.devices:
            return self.devices[name]
        raise self._no_device(name)

    def _no_device(self, name: str, where: str = "") -> TargetError:
        return TargetError(
            f"{where}target {self.name!r} has no device {name!r};"
            f"{did_you_mean(name, self.devices)} fix: use one of its devices: "
            f"{', '.join(self.devices)}"
        )

    def devices_of_kind(self, *wanted: str) -> list[DeviceSpec]:
        """Devices whose kind is one of `kinds`, in file order."""
        unknown = [kind for kind in wanted if kind not in DEVICE_TYPES]
        if unknown:
            raise TargetError(
                f"there is no device kind {unknown[0]!r};"
                f"{did_you_mean(unknown[0], DEVICE_TYPES)} fix: ask for one of "
                f"{', '.join(DEVICE_TYPES)}"
            )
        return [device for device in self.devices.values() if device.kind in wanted]

    def spiking_devices(self) -> list[DeviceSpec]:
        """Devices that can run spiking partitions."""
        return [device for device in self.devices.values() if device.role == "spiking"]

    def dense_devices(self) -> list[DeviceSpec]:
        """Devices that can run dense (ANN) partitions."""
        return [device for device in self.devices.values() if device.role == "dense"]

    def link_between(self, a: str, b: str) -> LinkSpec | None:
        """The link joining devices `a` and `b`, in either direction, or None."""
        for link in self.links:
            if {link.src, link.dst} == {a, b}:
                return link
        return None
