"""A build directory checked against its own plan before any partition is loaded or run.

A build is several files written at once (build.json, plan.json, and per partition its
compiled.json and partition.snap), and a build copied between machines, edited, or mixed
from two compiles can disagree with itself: a partition placed on one device but compiled
for another, a spiking partition whose recorded width is not its layers', two neighbours
whose widths differ. Each such mismatch is an `InconsistentBuildError` naming the file, the
partition, what was found and what was expected, raised here rather than as a KeyError or a
shape error in the middle of a run. The partitions' ops are checked as any artifact's are
(`artifact.consistency`), the first against the model's input shape.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from snapdeploy.artifact.consistency import check_ops
from snapdeploy.artifact.format import read_artifact
from snapdeploy.artifact.model import load_ops
from snapdeploy.backends.base import COMPILED_FILE, CompiledPartition
from snapdeploy.compile.build import BUILD_FILE
from snapdeploy.core.errors import InconsistentBuildError
from snapdeploy.core.graph import SPIKE_SOURCES, DecoderOp, SpikingOp
from snapdeploy.partition.partitions import PARTITION_FILE
from snapdeploy.partition.place import PLAN_FILE

_FIX = "recompile it with `snapdeploy compile MODEL.snap --target T -o DIR`"
#: What compiled.json holds: exactly the fields `CompiledPartition.load` takes.
COMPILED_KEYS = {f.name for f in fields(CompiledPartition)}


def fail(path: Path, what: str, found: Any, expected: Any) -> InconsistentBuildError:
    return InconsistentBuildError(
        f"{path}: {what}: found {found!r}, expected {expected}; the build is inconsistent, "
        f"fix: {_FIX}"
    )


def json_object(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(path, "contents", str(exc), "a JSON object") from exc
    if not isinstance(record, dict):
        raise fail(path, "contents", type(record).__name__, "a JSON object")
    return record


def whole(path: Path, record: dict[str, Any], key: str, low: int = 0) -> int:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise fail(path, f"'{key}'", value, f"an integer >= {low}")
    return value


def check_compiled(path: Path, index: int, placement: dict[str, Any], name: str) -> dict:
    """A partition's compiled.json: the partition and device its plan placement names."""
    record = json_object(path)
    if set(record) != COMPILED_KEYS:
        raise fail(path, "keys", sorted(record), sorted(COMPILED_KEYS))
    for key, expected in (
        ("partition", name),
        ("device", placement.get("device")),
        ("kind", placement.get("device_kind")),
    ):
        if record[key] != expected:
            raise fail(path, f"'{key}' (plan.json places '{name}')", record[key], repr(expected))
    for key in ("n_in", "n_out"):
        whole(path, record, key)
    meta = record["meta"]
    if not isinstance(meta, dict) or meta.get("index") != index:
        found = meta.get("index") if isinstance(meta, dict) else meta
        raise fail(path, "meta 'index' (the partition's place in the pipeline)", found, index)
    return record


def check_partition(directory: Path, record: dict, kind: Any, steps: int, shape_in) -> None:
    """The partition's ops (consistent as any artifact) against what compiled.json records."""
    path = directory / PARTITION_FILE
    ops, manifest = load_ops(path)  # each op checked as any artifact's, its first input unknown
    if manifest.get("steps") != steps:
        raise fail(path, "'steps'", manifest.get("steps"), f"{steps} (build.json)")
    if shape_in is not None:  # the model's first partition: from the model's input shape on
        artifact = read_artifact(path)
        check_ops(path, artifact.manifest["ops"], artifact.tensors, steps, shape_in)
    spiking = [isinstance(op, SpikingOp) for op in ops]
    if not ops or kind != ("spiking" if all(spiking) else "dense" if not any(spiking) else None):
        found = "no ops" if not ops else f"ops {[type(op).__name__ for op in ops]}"
        raise fail(path, "ops", found, f"the ops of a {kind} partition (plan.json)")
    first, last = ops[0], ops[-1]
    if kind == "spiking":
        widths = (first.params.n_in, last.params.n_out)
    else:
        widths = (
            first.n if isinstance(first, DecoderOp) else 0,
            last.n if isinstance(last, SPIKE_SOURCES) else 0,
        )
    compiled = directory / COMPILED_FILE
    for key, width in zip(("n_in", "n_out"), widths):
        if record[key] != width:
            raise fail(compiled, f"'{key}'", record[key], f"{width}, the width of its ops")


def check_boundaries(path: Path, boundaries: Any, records: list[dict], steps: int) -> None:
    """plan.json's boundaries: one between each pair of neighbours, as wide as the first emits."""
    if not isinstance(boundaries, list) or len(boundaries) != len(records) - 1:
        found = len(boundaries) if isinstance(boundaries, list) else boundaries
        raise fail(path, "boundaries", found, f"{len(records) - 1}, one between each partition")
    for index, boundary in enumerate(boundaries):
        if not isinstance(boundary, dict):
            raise fail(path, f"boundary {index}", boundary, "an object")
        expected = {
            "src": index,
            "dst": index + 1,
            "width": records[index]["n_out"],
            "steps": steps,
        }
        for key, value in expected.items():
            if boundary.get(key) != value:
                raise fail(path, f"boundary {index} '{key}'", boundary.get(key), value)


def verify_build(build_dir: Path) -> None:
    """Refuse a build whose files disagree with each other; return when all agree."""
    build_dir = Path(build_dir)
    build = json_object(build_dir / BUILD_FILE)
    plan = json_object(build_dir / PLAN_FILE)
    names = build.get("partitions")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise fail(build_dir / BUILD_FILE, "'partitions'", names, "a list of partition names")
    steps = whole(build_dir / BUILD_FILE, build, "steps", 1)
    shape = build.get("input_shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape):
        raise fail(build_dir / BUILD_FILE, "'input_shape'", shape, "a list of positive integers")
    placements = plan.get("placements")
    if not isinstance(placements, list) or len(placements) != len(names):
        found = len(placements) if isinstance(placements, list) else placements
        raise fail(build_dir / PLAN_FILE, "placements", found, f"{len(names)}, one per partition")
    records = []
    for index, (name, placement) in enumerate(zip(names, placements)):
        if not isinstance(placement, dict) or placement.get("partition") != name:
            found = placement.get("partition") if isinstance(placement, dict) else placement
            raise fail(build_dir / PLAN_FILE, f"placement {index}", found, f"partition '{name}'")
        directory = build_dir / name
        record = check_compiled(directory / COMPILED_FILE, index, placement, name)
        check_partition(
            directory,
            record,
            placement.get("partition_kind"),
            steps,
            tuple(shape) if index == 0 else None,
        )
        records.append(record)
    check_boundaries(build_dir / PLAN_FILE, plan.get("boundaries"), records, steps)
    for index, (before, after) in enumerate(itertools.pairwise(records)):
        if before["n_out"] != after["n_in"]:
            raise fail(
                build_dir / names[index + 1] / COMPILED_FILE,
                f"'n_in' (spikes from '{names[index]}')",
                after["n_in"],
                f"{before['n_out']}, the width '{names[index]}' emits",
            )
