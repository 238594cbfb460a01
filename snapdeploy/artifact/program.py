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

from snapdeploy.artifact.format import read_artifact, write_artifact
from snapdeploy.core.errors import ArtifactError, UnsupportedLayerError
from snapdeploy.core.extras import needs

with needs("train", __name__):
    import torch
    from torch._export.serde import serialize as serde
    from torch.export import ExportedProgram

PREFIX = "program."
#: Parts of a program's tensor names: its graph JSON, parameters, buffers, lifted constants.
GRAPH, PARAM, BUFFER, CONST = "graph", "param.", "buffer.", "const."


class CallCode(torch.nn.Module):
    """Holds an fx.GraphModule so torch.export calls its generated code: it would run a
    GraphModule root through fx.Interpreter, whose progress bar takes a multiprocessing lock
    and so fixes the start method before Lava can set its own."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.inner(*inputs)


def export_program(
    module: torch.nn.Module, example: tuple[torch.Tensor, ...], dynamic_batch: bool = False
) -> ExportedProgram:
    """`module` in eval mode as a torch.export program for inputs shaped like `example`
    (with `dynamic_batch`, any size of their first axis)."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    root = CallCode(module) if isinstance(module, torch.fx.GraphModule) else module
    dims = tuple({0: torch.export.Dim.DYNAMIC} for _ in example) if dynamic_batch else None
    try:
        return torch.export.export(root, example, dynamic_shapes=dims, strict=False)
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


def program_parts(where: str, program: ExportedProgram) -> dict[str, np.ndarray]:
    """`program` as plain arrays: "graph" (its JSON) and "param.", "buffer.", "const." keys."""
    serialized = serde.serialize(
        program,
        serialize_state_dict=False,
        serialize_constants=False,
        serialize_example_inputs=False,
    )
    parts = {GRAPH: np.frombuffer(serialized.exported_program, dtype=np.uint8).copy()}
    for key, value in program.state_dict.items():
        part = PARAM if isinstance(value, torch.nn.Parameter) else BUFFER
        parts[part + key] = _array(where, key, value)
    for key, value in program.constants.items():
        parts[CONST + key] = _array(where, key, value)
    return parts


def program_from_parts(where: str, parts: dict[str, np.ndarray]) -> ExportedProgram:
    """Rebuild a program from `program_parts` arrays; no byte of them is unpickled.

    `where` names the entry in errors (the file and the program or op).
    """
    graph = parts.get(GRAPH)
    if graph is None:
        raise ArtifactError(f"{where}: the program's '{GRAPH}' entry is missing")
    held: dict[str, dict[str, torch.Tensor]] = {PARAM: {}, BUFFER: {}, CONST: {}}
    for key, array in parts.items():
        for part, tensors in held.items():
            if key.startswith(part):
                tensors[key[len(part) :]] = torch.from_numpy(np.array(array))
    state = {k: torch.nn.Parameter(v, requires_grad=False) for k, v in held[PARAM].items()}
    try:
        json.loads(graph.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(
            f"{where}: the program's {GRAPH} entry is not torch.export's JSON graph ({err}); it "
            f"is never unpickled or run; fix: re-export the model"
        ) from err
    artifact = serde.SerializedArtifact(graph.tobytes(), state | held[BUFFER], held[CONST], None)
    try:
        return serde.deserialize(artifact)
    except Exception as err:  # the deserializer signals a bad graph with many error types
        raise ArtifactError(
            f"{where}: the program's {GRAPH} entry does not deserialize ({type(err).__name__}: "
            f"{err}); fix: re-export the model with torch {torch.__version__}"
        ) from err


class ProgramModule(torch.nn.Module):
    """A program as a module to run: its graph fixed dropout and normalization at export (eval
    mode) and torch refuses train()/eval() on it, so a mode change is recorded, not passed on."""

    def __init__(self, program: ExportedProgram):
        super().__init__()
        self.program = program.module()

    def train(self, mode: bool = True) -> ProgramModule:
        self.training = mode
        return self

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.program(*inputs)


def program_tensors(name: str, program: ExportedProgram) -> dict[str, np.ndarray]:
    """The artifact tensors that hold `program` under `name` (`program.<name>.<part>`)."""
    if "." in name or not name:
        raise ArtifactError(f"program name {name!r} must be non-empty and hold no '.'")
    return {f"{PREFIX}{name}.{k}": v for k, v in program_parts(name, program).items()}


def program_names(tensors: dict[str, np.ndarray]) -> list[str]:
    ends = "." + GRAPH
    return sorted(
        k[len(PREFIX) : -len(ends)] for k in tensors if k.startswith(PREFIX) and k.endswith(ends)
    )


def program_from_tensors(path: Path, name: str, tensors: dict[str, np.ndarray]) -> ExportedProgram:
    base = f"{PREFIX}{name}."
    parts = {k[len(base) :]: v for k, v in tensors.items() if k.startswith(base)}
    return program_from_parts(f"{path}: program '{name}' (entries {base}*)", parts)


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
