"""compile_plan: one build directory with build.json, plan.json and a folder per partition, written
all at once; a compile that fails midway leaves nothing new and an older build untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snapdeploy.backends.base import COMPILED_FILE, CompiledPartition
from snapdeploy.backends.reference import ReferenceBackend
from snapdeploy.compile import BUILD_FILE, compile_plan
from snapdeploy.core.errors import CapacityError
from snapdeploy.partition import cut, place
from snapdeploy.partition.partitions import PARTITION_FILE
from snapdeploy.partition.place import PLAN_FILE
from snapdeploy.quant.export import export_model
from snapdeploy.targets import LinkSpec, ReferenceDevice, Target, TorchDevice
from tests.models import hybrid_net

T = 4


@pytest.fixture(scope="module")
def model():
    graph = export_model(hybrid_net([5, 4, 3], T, n_in=6, n_out=2))  # 4 + 3 = 7 neurons
    partitions, boundaries = cut(graph)
    return graph, partitions, boundaries


def bench(max_neurons: int | None = None, path: Path = Path("/nowhere/bench.toml")) -> Target:
    return Target(
        name="bench",
        description="",
        path=path,
        devices={
            "host": TorchDevice(name="host", device="cpu"),
            "ref": ReferenceDevice(name="ref", max_neurons=max_neurons),
        },
        links=[
            LinkSpec(
                src="host", dst="ref", bandwidth_gbps=1.0, latency_ns=1.0, energy_pj_per_bit=1.0
            )
        ],
    )


def compile_for(model, target: Target, out: Path, info=None) -> Path:
    graph, partitions, boundaries = model
    plan = place(partitions, boundaries, target)
    return compile_plan(graph, partitions, plan, target, out, info)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its bytes (None for directories)."""
    return {
        str(path.relative_to(root)): None if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
    }


def test_compile_writes_build_json_plan_json_and_one_dir_per_partition(model, tmp_path):
    graph, partitions, boundaries = model
    target = bench()
    plan = place(partitions, boundaries, target)
    out = compile_plan(graph, partitions, plan, target, tmp_path / "build", {"artifact": "m.snap"})

    assert out == tmp_path / "build"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [BUILD_FILE, PLAN_FILE, "p0_dense", "p1_spiking", "p2_dense"]
    )
    assert json.loads((out / BUILD_FILE).read_text()) == {
        "input_shape": [6],
        "steps": T,
        "partitions": ["p0_dense", "p1_spiking", "p2_dense"],
        "target_path": "/nowhere/bench.toml",
        "artifact": "m.snap",
    }
    assert json.loads((out / PLAN_FILE).read_text()) == plan.to_json()
    for partition, kind in zip(partitions, ["torch", "reference", "torch"]):
        folder = out / partition.name
        assert sorted(p.name for p in folder.iterdir()) == sorted([COMPILED_FILE, PARTITION_FILE])
        compiled = CompiledPartition.load(folder)
        assert (compiled.kind, compiled.partition, compiled.path) == (kind, partition.name, folder)
    # nothing else next to the build: no staging or retired directories
    assert [p.name for p in tmp_path.iterdir()] == ["build"]


def test_compile_creates_missing_parent_directories(model, tmp_path):
    out = compile_for(model, bench(), tmp_path / "a" / "b" / "build")
    assert (out / BUILD_FILE).is_file()
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == ["build"]


def test_a_capacity_error_midway_leaves_no_build_when_none_existed(model, tmp_path):
    with pytest.raises(CapacityError, match="7 neurons"):
        compile_for(model, bench(max_neurons=6), tmp_path / "build")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_compile_leaves_an_existing_build_byte_identical(model, tmp_path):
    out = compile_for(model, bench(), tmp_path / "build", {"run": "first"})
    before = snapshot(tmp_path)

    with pytest.raises(CapacityError):
        compile_for(model, bench(max_neurons=6), out, {"run": "second"})

    assert snapshot(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["build"]


def test_an_interrupt_midway_also_cleans_up(model, tmp_path, monkeypatch):
    out = compile_for(model, bench(), tmp_path / "build")
    before = snapshot(tmp_path)

    def interrupted(self, partition, device, out):
        raise KeyboardInterrupt

    monkeypatch.setattr(ReferenceBackend, "compile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        compile_for(model, bench(), out, {"run": "second"})
    assert snapshot(tmp_path) == before


def test_a_successful_recompile_replaces_the_old_build_and_leaves_no_debris(model, tmp_path):
    out = compile_for(model, bench(), tmp_path / "build", {"run": "first"})
    (out / "stale.txt").write_text("from an older build")

    compile_for(model, bench(), out, {"run": "second"})

    assert json.loads((out / BUILD_FILE).read_text())["run"] == "second"
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["build"]
