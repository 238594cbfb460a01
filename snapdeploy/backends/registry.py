"""One entry per device kind: everything the rest of the package asks about a kind.

An entry names the kind's device spec class (what a target file's table becomes), where its
backend lives (imported on first use, so a deployment that uses only the reference never
imports Lava or pynq), which cost model of `report.energy` prices it, and what `deploy
--board` means for it. Nothing outside `backends/` and `targets/` switches on a kind's name:
it asks `entry(kind)`. Adding a backend is one package and one `register_kind` call.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from enum import Enum

from snapdeploy.backends.base import Backend
from snapdeploy.core.errors import BackendError
from snapdeploy.core.extras import MissingExtraError
from snapdeploy.targets.schema import did_you_mean
from snapdeploy.targets.spec import (
    DeviceSpec,
    HlsDevice,
    LavaDevice,
    ReferenceDevice,
    RtlDevice,
    SpiNNakerDevice,
    TorchDevice,
    register_device_type,
)


class BoardMode(Enum):
    """What `deploy --board` does with a device of the kind (`--emulate` emulates them all)."""

    #: Runs on this host in either mode (torch on the CPU or a GPU).
    HOST = "host"
    #: Has no hardware this machine can reach; `--board` is refused, `--emulate` runs it.
    EMULATED = "emulated"
    #: An FPGA core: `--board` loads the bitstream the device names through pynq.
    BITSTREAM = "bitstream"
    #: An FPGA board top reached by a byte link: `--board` opens the link the device names.
    LINK = "link"


@dataclass(frozen=True)
class KindEntry:
    """A device kind: its spec class, its backend ("module:Class"), its pricing, its board mode."""

    device: type[DeviceSpec]
    backend: str
    #: The cost model in `report.energy.COST_MODELS` that prices this kind's work.
    pricing: str
    board: BoardMode = BoardMode.EMULATED

    @property
    def kind(self) -> str:
        return self.device.kind

    @property
    def role(self) -> str:
        return self.device.role

    def backend_class(self) -> type:
        module, _, name = self.backend.partition(":")
        try:
            imported = importlib.import_module(module)
        except MissingExtraError:
            raise  # already names the extra to install
        except ModuleNotFoundError as exc:
            raise BackendError(
                f"the '{self.kind}' backend cannot be imported ({exc}); fix: run `make install` "
                f"so its dependencies are installed"
            ) from exc
        return getattr(imported, name)

    def board_problem(self, device: DeviceSpec) -> str | None:
        """Why `device` cannot run as real hardware from this machine, or None when it can (a
        device with a `host` is run by `snapdeploy serve` there, which answers for it)."""
        if self.board is BoardMode.HOST or device.host is not None:
            return None
        if self.board is BoardMode.EMULATED:
            return f"is kind '{self.kind}', which this machine only emulates; fix: use --emulate"
        if self.board is BoardMode.LINK:
            if getattr(device, "link", None) is None:
                return (
                    "names no board link; fix: set link = the serial port of its board, or "
                    '"simulation" for its board top in Verilator'
                )
            return None
        if getattr(device, "bitstream", None) is None:
            return (
                "names no bitstream; fix: build one into snapdeploy/backends/fpga/bitstreams/ "
                "and set bitstream ="
            )
        if importlib.util.find_spec("pynq") is None:
            return (
                "needs pynq, which is not installed (it runs on the board); fix: run on the board"
            )
        return None


_ENTRIES: dict[str, KindEntry] = {}


def register_kind(entry: KindEntry) -> KindEntry:
    """Make a kind known: to target files (its spec class) and to the runtime (its backend)."""
    register_device_type(entry.device)
    _ENTRIES[entry.kind] = entry
    return entry


def entry(kind: str) -> KindEntry:
    """The registered entry of `kind`; an unknown kind is named with the known ones."""
    if kind not in _ENTRIES:
        raise BackendError(
            f"no backend for device kind '{kind}';{did_you_mean(kind, _ENTRIES)} known kinds: "
            f"{', '.join(sorted(_ENTRIES))}"
        )
    return _ENTRIES[kind]


def registered_kinds(role: str | None = None) -> list[str]:
    """Every registered kind (of one role: 'dense' or 'spiking'), in registration order."""
    return [kind for kind, e in _ENTRIES.items() if role is None or e.role == role]


def get_backend(kind: str) -> Backend:
    """A fresh backend for `kind`, importing its module on first use."""
    return entry(kind).backend_class()()


register_kind(
    KindEntry(TorchDevice, "snapdeploy.backends.torch_dense:TorchBackend", "torch", BoardMode.HOST)
)
register_kind(KindEntry(ReferenceDevice, "snapdeploy.backends.reference:ReferenceBackend", "loihi"))
register_kind(KindEntry(LavaDevice, "snapdeploy.backends.lava:LavaBackend", "loihi"))
register_kind(
    KindEntry(HlsDevice, "snapdeploy.backends.hls:HlsBackend", "fpga", BoardMode.BITSTREAM)
)
register_kind(
    KindEntry(RtlDevice, "snapdeploy.backends.rtl.backend:RtlBackend", "fpga", BoardMode.LINK)
)
register_kind(
    KindEntry(SpiNNakerDevice, "snapdeploy.backends.spinnaker:SpiNNakerBackend", "spinnaker")
)
