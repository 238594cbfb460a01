"""A build directory is checked against its plan before anything runs.

Named mismatches first, then a fuzz: a compiled build (dense -> spiking -> dense) gets one
change in build.json, plan.json, a compiled.json or a partition.snap (re-stamped, so its
integrity holds), or one partition's file copied over another's; loading and running it
either works or fails as a SnapdeployError naming a partition, an op or the file.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.artifact import read_artifact, write_artifact
from snapdeploy.backends.base import COMPILED_FILE
from snapdeploy.compile import BUILD_FILE, compile_graph
from snapdeploy.compile.verify import verify_build
from snapdeploy.core.errors import InconsistentBuildError, SnapdeployError
from snapdeploy.partition.partitions import PARTITION_FILE
from snapdeploy.partition.place import PLAN_FILE, spiking_on
from snapdeploy.quant.export import export_model
from snapdeploy.runtime import Deployment
from snapdeploy.targets import load_target
from tests.models import hybrid_net

T = 4
FILES = (BUILD_FILE, PLAN_FILE, COMPILED_FILE, PARTITION_FILE)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    graph = export_model(hybrid_net([5, 4, 3], T, n_in=6, n_out=2, gain=3.0))
    target = load_target("emulator")
    device = target.devices_of_kind("reference")[0].name
    out = tmp_path_factory.mktemp("build") / "build"
    compile_graph(graph, target, out, spiking_on(device))
    return out


def copy(build: Path, tmp_path: Path) -> Path:
    target = tmp_path / "build"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(build, target)
    return target


def partitions(build: Path) -> list[str]:
    return json.loads((build / BUILD_FILE).read_text())["partitions"]


def edit_json(path: Path, change) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def test_the_unchanged_build_verifies_and_runs(build: Path) -> None:
    verify_build(build)
    with Deployment.load(build) as deployment:
        deployment.run(np.zeros((2, 6), np.float32), progress=False)


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        (
            PLAN_FILE,
            lambda r: r["placements"][1].update(device="elsewhere"),
            (
                r"compiled.json: 'device' \(plan.json places 'p1_spiking'\): found 'ref', "
                r"expected 'elsewhere'"
            ),
        ),
        (
            PLAN_FILE,
            lambda r: r["placements"].pop(),
            r"plan.json: placements: found 2, expected 3, one per partition",
        ),
        (1, lambda r: r.update(n_out=4), r"'n_out': found 4, expected 3, the width of its ops"),
        (BUILD_FILE, lambda r: r.update(steps=T + 1), rf"'steps': found {T}, expected {T + 1}"),
        (1, lambda r: r["meta"].update(index=0), r"meta 'index' .*: found 0, expected 1"),
        (
            PLAN_FILE,
            lambda r: r["boundaries"][1].update(width=5),
            r"plan.json: boundary 1 'width': found 5, expected 3",
        ),
    ],
)
def test_each_mismatch_names_the_file_what_was_found_and_expected(
    build: Path, tmp_path: Path, file, change, message: str
) -> None:
    build = copy(build, tmp_path)
    path = (
        build / partitions(build)[file] / COMPILED_FILE if isinstance(file, int) else build / file
    )
    edit_json(path, change)
    with pytest.raises(InconsistentBuildError, match=message):
        verify_build(build)


def test_a_partition_file_of_another_partition_is_refused(build: Path, tmp_path: Path) -> None:
    build = copy(build, tmp_path)
    first, _, last = partitions(build)
    shutil.copy(build / first / PARTITION_FILE, build / last / PARTITION_FILE)
    with pytest.raises(InconsistentBuildError, match=rf"{last}/compiled.json: 'n_in'"):
        verify_build(build)


VALUES = st.one_of(
    st.integers(-2, 12),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.integers(-1, 6), max_size=3),
    st.floats(allow_nan=False, allow_infinity=False),
)


def leaves(value: Any, path: tuple = ()) -> list[tuple]:
    """Every (path to a leaf) of a JSON value."""
    if isinstance(value, dict):
        return [p for k in sorted(value) for p in leaves(value[k], (*path, k))]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in leaves(v, (*path, i))]
    return [path]


def set_leaf(record: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        record = record[key]
    record[path[-1]] = value


@st.composite
def build_change(draw):
    """One change to a build: a JSON leaf, a partition's manifest leaf or tensor, or a copied
    partition file; a function of the build directory."""
    where = draw(st.sampled_from(["build", "plan", "compiled", "snap_manifest", "tensor", "swap"]))
    which, pick, value = draw(st.integers(0, 2)), draw(st.integers(0, 1 << 16)), draw(VALUES)
    scale = draw(st.sampled_from([0, -1, 3, 1000]))

    def change(build: Path) -> None:
        names = partitions(build)
        part = build / names[which]
        if where in ("build", "plan", "compiled"):
            path = {"build": build / BUILD_FILE, "plan": build / PLAN_FILE}.get(
                where, part / COMPILED_FILE
            )
            record = json.loads(path.read_text())
            paths = [p for p in leaves(record) if p]
            set_leaf(record, paths[pick % len(paths)], value)
            path.write_text(json.dumps(record))
        elif where == "swap":
            other = build / names[(which + 1 + pick % 2) % 3] / PARTITION_FILE
            shutil.copy(other, part / PARTITION_FILE)
        else:
            artifact = read_artifact(part / PARTITION_FILE)
            manifest = {k: v for k, v in artifact.manifest.items() if k != "tensors"}
            tensors = dict(artifact.tensors)
            if where == "tensor":
                key = sorted(tensors)[pick % len(tensors)]
                array = tensors[key]
                shapes = [array, array[..., :-1], array.reshape(-1)[:-1], array.astype(np.float32)]
                tensors[key] = np.ascontiguousarray(shapes[pick % 4] * scale).astype(
                    shapes[pick % 4].dtype
                )
            else:
                paths = [p for p in leaves(manifest["ops"]) if p[-1] != "name"]
                set_leaf(manifest["ops"], paths[pick % len(paths)], value)
            try:
                write_artifact(part / PARTITION_FILE, manifest, tensors)
            except SnapdeployError:
                pass  # the writer refused it (not JSON): the file stays as it was

    return change


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(change=build_change())
def test_fuzz_every_failure_of_a_changed_build_is_named(build: Path, tmp_path: Path, change):
    build = copy(build, tmp_path)
    names = partitions(build)
    change(build)
    try:
        with Deployment.load(build) as deployment:
            deployment.run(np.random.default_rng(0).normal(0, 1, (3, 6)), progress=False)
    except SnapdeployError as exc:
        message = str(exc)
        assert any(name in message for name in (*names, *FILES)), message
