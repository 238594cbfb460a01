"""Dense partitions of arbitrary models as `torch.export` programs inside a .snap, never pickled.

`torch.export.save` stores the weights with `torch.save` and `torch.export.load` falls back to
`torch.load(weights_only=False)` (arbitrary code) when its safe load fails, so neither is used.
A program is stored as three kinds of artifact tensors, each sha256-verified by `read_artifact`
like every tensor: its graph, torch.export's own JSON serialization, as uint8 bytes
(`program.<name>.graph`), and each parameter, buffer and lifted constant as a plain tensor
(`program.<name>.param.<key>`, `.buffer.<key>`, `.const.<key>`). Loading parses the JSON and hands
torch's deserializer the tensors as dicts, the one path in which it unpickles nothing; a
program holding anything but tensors (a TorchScript object) is refused at export.

This module needs torch; `snapdeploy.artifact` itself does not import it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch._export.serde import serialize as serde
from torch.export import ExportedProgram

from snapdeploy.artifact.format import read_artifact, write_artifact
from snapdeploy.core.errors import ArtifactError, UnsupportedLayerError

PREFIX = "program."
#: Parts of a program's tensor names: its graph JSON, parameters, buffers, lifted constants.
GRAPH, PARAM, BUFFER, CONST = "graph", "param.", "buffer.", "const."


def export_program(module: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> ExportedProgram:
    """`module` in eval mode as a torch.export program (static shapes of `example`)."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        return torch.export.export(module, example, strict=False)
    finally:
        for m, mode in modes.items():
            m.train(mode)


def _array(name: str, key: str, value: Any) -> np.ndarray:
    if not isinstance(value, torch.Tensor):
        raise UnsupportedLayerError(
            f"program '{name}': '{key}' is a {type(value).__name__}, not a tensor; a .snap "
            f"stores only tensors (never pickles); fix: keep TorchScript objects out of the die"
        )
    if value.dtype == torch.bfloat16:
        raise UnsupportedLayerError(
            f"program '{name}': '{key}' is bfloat16, which safetensors-in-numpy cannot hold; "
            f"fix: convert the die to float32 or float16 before export"
        )
    return value.detach().cpu().contiguous().numpy()


def program_tensors(name: str, program: ExportedProgram) -> dict[str, np.ndarray]:
    """The artifact tensors that hold `program` under `name`."""
    if "." in name or not name:
        raise ArtifactError(f"program name {name!r} must be non-empty and hold no '.'")
    serialized = serde.serialize(
        program,
        serialize_state_dict=False,
        serialize_constants=False,
        serialize_example_inputs=False,
    )
    base = f"{PREFIX}{name}."
    tensors = {base + GRAPH: np.frombuffer(serialized.exported_program, dtype=np.uint8).copy()}
    for key, value in program.state_dict.items():
        part = PARAM if isinstance(value, torch.nn.Parameter) else BUFFER
        tensors[base + part + key] = _array(name, key, value)
    for key, value in program.constants.items():
        tensors[base + CONST + key] = _array(name, key, value)
    return tensors


def program_names(tensors: dict[str, np.ndarray]) -> list[str]:
    ends = "." + GRAPH
    return sorted(
        k[len(PREFIX) : -len(ends)] for k in tensors if k.startswith(PREFIX) and k.endswith(ends)
    )


def program_from_tensors(path: Path, name: str, tensors: dict[str, np.ndarray]) -> ExportedProgram:
    """Rebuild program `name` from verified artifact tensors; no byte of it is unpickled."""
    base = f"{PREFIX}{name}."
    graph = tensors.get(base + GRAPH)
    if graph is None:
        raise ArtifactError(f"{path}: no program '{name}' (entry {base + GRAPH} is missing)")
    parts: dict[str, dict[str, torch.Tensor]] = {PARAM: {}, BUFFER: {}, CONST: {}}
    for key, array in tensors.items():
        for part, held in parts.items():
            if key.startswith(base + part):
                held[key[len(base + part) :]] = torch.from_numpy(array.copy())
    state = {k: torch.nn.Parameter(v, requires_grad=False) for k, v in parts[PARAM].items()}
    try:
        json.loads(graph.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(
            f"{path}: program '{name}' entry {base + GRAPH} is not torch.export's JSON graph "
            f"({err}); it is never unpickled or run; fix: re-export the model"
        ) from err
    artifact = serde.SerializedArtifact(graph.tobytes(), state | parts[BUFFER], parts[CONST], None)
    try:
        return serde.deserialize(artifact)
    except Exception as err:  # the deserializer signals a bad graph with many error types
        raise ArtifactError(
            f"{path}: program '{name}' entry {base + GRAPH} does not deserialize "
            f"({type(err).__name__}: {err}); fix: re-export the model with torch "
            f"{torch.__version__}"
        ) from err


def save_programs(
    path: str | Path, programs: dict[str, ExportedProgram], info: dict[str, Any]
) -> Path:
    """Write programs by name (and `info`) as a verified .snap."""
    tensors: dict[str, np.ndarray] = {}
    for name, program in programs.items():
        tensors |= program_tensors(name, program)
    return write_artifact(path, {**info, "programs": sorted(programs)}, tensors)


def load_programs(path: str | Path) -> dict[str, ExportedProgram]:
    """Read and verify a .snap (every hash), then rebuild each program it lists."""
    artifact = read_artifact(path)
    listed = artifact.manifest.get("programs")
    if not isinstance(listed, list) or sorted(listed) != program_names(artifact.tensors):
        raise ArtifactError(
            f"{artifact.path}: the manifest's 'programs' {listed!r} does not list the program "
            f"entries stored ({program_names(artifact.tensors)}); fix: re-export the model"
        )
    return {name: program_from_tensors(artifact.path, name, artifact.tensors) for name in listed}
