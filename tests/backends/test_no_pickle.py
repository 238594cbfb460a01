"""Nothing a build holds is a pickle: a build directory from elsewhere must not run code when it
is loaded, so every file is a data format (JSON, safetensors, npy/npz without object arrays).

Walks a compiled partition of every registered spiking kind, and a whole build (its dense
partitions, plan and build records).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from snapdeploy.backends import get_backend, registered_kinds
from snapdeploy.compile import compile_graph
from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.quant.export import export_model
from snapdeploy.targets import DEVICE_TYPES, load_target
from tests.models import hybrid_net, spiking_partition

PICKLE_SUFFIXES = {".pickle", ".pkl", ".pt", ".pth"}


def is_pickle(data: bytes) -> bool:
    """Pickle protocols 2-5 open with PROTO (0x80) and the protocol number."""
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def pickles_in(directory: Path) -> list[str]:
    """Every file under `directory` that is, or holds, a pickle."""
    found = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = str(path.relative_to(directory))
        if path.suffix in PICKLE_SUFFIXES or is_pickle(path.read_bytes()[:2]):
            found.append(name)
        elif path.suffix in (".npy", ".npz"):
            try:
                loaded = np.load(path, allow_pickle=False)
                if isinstance(loaded, np.lib.npyio.NpzFile):
                    [loaded[key] for key in loaded.files]
            except ValueError:  # object arrays: numpy pickles them
                found.append(name)
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                found += [
                    f"{name}:{e}" for e in archive.namelist() if is_pickle(archive.read(e)[:2])
                ]
    return found


def test_the_detector_finds_a_pickle_and_object_arrays(tmp_path: Path) -> None:
    import pickle

    (tmp_path / "state.bin").write_bytes(pickle.dumps({"a": 1}))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "plain.npy", np.arange(3))
    assert pickles_in(tmp_path) == ["objects.npy", "state.bin"]


@pytest.mark.parametrize("kind", registered_kinds("spiking"))
def test_a_compiled_spiking_partition_holds_no_pickle(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    layer = LifLayerParams(2 * rng.integers(-20, 21, (4, 6)), 0, 400, 300, 20, np.zeros(4), 0)
    device = DEVICE_TYPES[kind].holding("dev", 64)
    compiled = get_backend(kind).compile(spiking_partition([layer]), device, tmp_path / kind)
    assert sorted(p.name for p in compiled.path.iterdir())  # something was written
    assert pickles_in(compiled.path) == []


def test_a_whole_build_holds_no_pickle(tmp_path: Path) -> None:
    graph = export_model(hybrid_net([5, 4], 3, n_in=6, n_out=2))
    build, _ = compile_graph(graph, load_target("emulator"), tmp_path / "build")
    assert pickles_in(build) == []
