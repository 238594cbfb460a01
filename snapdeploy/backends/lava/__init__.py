"""The Lava backend: a spiking partition as real Lava processes on Lava's Loihi 2 simulator.

Why real Lava: its `fixed_pt` LIF and Dense are Loihi's arithmetic, so equal spikes and
states here prove the reference's integers are the hardware's.

`compile` checks every layer against Loihi's widths and the device's neurons and builds the
Lava processes once, so what Lava cannot build is refused before anything runs; the build
directory holds the partition's arrays alone (the base compile's `partition.snap`), no
pickle: Lava's own serialization is one, and a build from elsewhere must not run code when
it is loaded. `load` rebuilds the processes from those arrays (`processes.build_network`,
which a Lava user calls the same way) and wraps them in a `LavaExecutor`. Only the CPU simulator
(`run_config = "sim"`) exists in open-source Lava, and only the `fixed_pt` models compute
integers; other settings are refused at compile time. Lava itself is imported on first use,
so the rest of snapdeploy works without it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from snapdeploy.backends.base import LAYER_KINDS, CompiledPartition, ExecutorBase, SpikingBackend
from snapdeploy.core.errors import BackendError
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import LavaDevice

LAVA_VERSION = "0.10.0"
RUN_CONFIGS = ("sim",)
SELECT_TAG = "fixed_pt"


def lava_module(name: str) -> ModuleType:
    """Import one of this package's Lava-dependent modules, or say how to install Lava."""
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ImportError as exc:
        raise BackendError(
            f"Lava cannot be imported ({exc}); fix: run `make install`, or install the 'lava' "
            f"extra (pip install 'snapdeploy[lava]') and then lava-nc {LAVA_VERSION} itself "
            f"with `python tools/install_lava.py` (it patches the wheel for Python 3.11)"
        ) from exc
    except RuntimeError as exc:  # lava's import calls multiprocessing.set_start_method('fork')
        raise BackendError(
            f"Lava cannot be imported: {exc}; fix: import snapdeploy's Lava backend before "
            f"anything sets a multiprocessing start method other than 'fork'"
        ) from exc


class LavaBackend(SpikingBackend):
    """Compiles spiking partitions to Lava processes and runs them on Lava's simulator."""

    kind = "lava"
    #: Conv, pooling and delays as Lava's own Conv and DelayDense; subtract reset as our
    #: SubtractLIF (neurons/subtract_lif.py), a fixed-point model on Lava's CPU simulator.
    layer_kinds = LAYER_KINDS

    def neuron_capacity(self, device: LavaDevice) -> int:
        return device.neurons_per_core * device.cores

    def prepare(self, partition: SpikingPartition, device: LavaDevice) -> None:
        """Refuse run configs and model tags that cannot compute the integer neuron."""
        if device.run_config not in RUN_CONFIGS:
            raise BackendError(
                f"device '{device.name}': run_config '{device.run_config}' is not available; "
                f"open-source Lava {LAVA_VERSION} has only its CPU simulator; fix: use "
                f'run_config = "sim" (Loihi hardware needs Intel\'s lava-loihi extension)'
            )
        if device.select_tag != SELECT_TAG:
            raise BackendError(
                f"device '{device.name}': select_tag '{device.select_tag}' runs Lava's float "
                f"models, which do not compute the integer neuron of a spiking partition; fix: "
                f'use select_tag = "fixed_pt"'
            )

    def emit(
        self, prepared: None, partition: SpikingPartition, device: LavaDevice, out: Path
    ) -> dict[str, Any]:
        names = [op.name for op in partition.ops]
        lava_module("processes").build_network(names, partition.layers)  # Lava's own checks
        return {
            "layers": names,
            "steps": partition.steps,
            "lava_version": LAVA_VERSION,
            "run_config": device.run_config,
            "select_tag": device.select_tag,
        }

    def open(self, compiled: CompiledPartition, partition: SpikingPartition) -> ExecutorBase:
        processes = lava_module("processes")
        executor = lava_module("executor")
        names = [op.name for op in partition.ops]
        return executor.LavaExecutor(
            lambda: processes.build_network(names, partition.layers), compiled.meta["select_tag"]
        )
