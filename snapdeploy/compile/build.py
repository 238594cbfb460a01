"""Compile every partition of a plan into one build directory, atomically.

Everything is compiled into a temporary sibling directory that replaces `out` only when all
partitions succeeded, so a failed compile never leaves a half build (nor harms an old one).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from snapdeploy.backends import get_backend
from snapdeploy.core.errors import SnapdeployError, TargetError
from snapdeploy.core.graph import ModelGraph
from snapdeploy.partition import Partition, Plan, cut, place
from snapdeploy.targets import Target, load_target

BUILD_FILE = "build.json"


def compile_plan(
    graph: ModelGraph,
    partitions: list[Partition],
    plan: Plan,
    target: Target,
    out: Path,
    info: dict[str, Any] | None = None,
) -> Path:
    """Compile each partition with its device's backend into `out`; return `out`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would make the finished build private
    try:
        for partition, placement in zip(partitions, plan.placements):
            device = target.device(placement.device)
            compiled = get_backend(device.kind).compile(partition, device, staging / partition.name)
            if device.host is not None:  # served by a board: the runtime reaches it there
                if device.role != "spiking":
                    raise TargetError(
                        f"{device.location()} host = {device.host!r}, but a board serves "
                        f"spiking partitions only; fix: remove host from this device"
                    )
                replace(compiled, meta={**compiled.meta, "host": device.host}).save()
        plan.write(staging)
        record = {
            "input_shape": list(graph.input_shape),
            "steps": graph.steps,
            "partitions": [p.name for p in partitions],
            "target_path": str(target.path),
            **(info or {}),
        }
        (staging / BUILD_FILE).write_text(json.dumps(record, indent=2))
        _replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def compile_graph(
    graph: ModelGraph,
    target: Target,
    out: Path,
    mapping_for: Callable[[list[Partition]], dict[str, str]] | None = None,
    info: dict[str, Any] | None = None,
) -> tuple[Path, Plan]:
    """Cut `graph`, place it on `target` and compile it into `out`; the build and its plan.

    `mapping_for` sees the partitions and returns explicit placements (partition -> device);
    the rest go to the first capable device.
    """
    partitions, boundaries = cut(graph)
    mapping = mapping_for(partitions) if mapping_for else {}
    plan = place(partitions, boundaries, target, mapping)
    return compile_plan(graph, partitions, plan, target, out, info), plan


def build_target(build_dir: Path) -> Target:
    """The target a build was compiled for, loaded again from the file it named."""
    path = Path(json.loads((Path(build_dir) / BUILD_FILE).read_text())["target_path"])
    if not path.is_file():
        raise SnapdeployError(
            f"{Path(build_dir) / BUILD_FILE} names target file {path}, which is gone; fix: "
            f"restore it, or recompile with `snapdeploy compile ... --target T`"
        )
    return load_target(path)


def _replace_dir(new: Path, old: Path) -> None:
    """Swap `new` into `old`'s place; the previous build is removed only after the swap."""
    if not old.exists():
        new.rename(old)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{old.name}.old.", dir=old.parent))
    old.rename(retired / old.name)
    new.rename(old)
    shutil.rmtree(retired, ignore_errors=True)
