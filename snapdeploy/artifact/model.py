"""A `ModelGraph` as artifact entries: ops in the manifest, arrays as named tensors.

The manifest's `graph` lists each op with its type, scalar settings, the names of its
tensors and every parameter's bit width, so `snapdeploy inspect` shows a deployment's
widths without loading a tensor. Reading checks the graph's shape and each op's ranges, so a
hand-edited or foreign artifact fails with an error naming the op. A spike source (a model
whose input is spikes) is one more record type, "spike_source", so every artifact written
before it existed reads as it did. So do the additions of issue 20: a Dense layer's
`delays` tensor and a `reset` key appear only where a layer has them, and conv and pool layers
are records of a type of their own, "spiking_conv". A spike source of multi-channel images
fed in NIR's (C, H, W) order has a `channels_first` key, [C, H, W]: it reorders each step's
input channels-last, (H, W, C) flattened, before the first layer (`nn.image_source`); so has
an encoder of such images, which reorders its spikes so (`nn.image_encoder`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.artifact.consistency import check_ops
from snapdeploy.artifact.format import Artifact, read_artifact, write_artifact
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.errors import ArtifactError, InconsistentArtifactError
from snapdeploy.core.graph import (
    DecoderOp,
    DenseOp,
    EncoderOp,
    ModelGraph,
    Op,
    SpikeSourceOp,
    SpikingOp,
)
from snapdeploy.core.neuron import LifLayerParams

#: Bit widths of a spiking layer's parameters (Loihi's, see core.neuron.PARAM_RANGES).
SPIKING_BIT_WIDTHS = {
    "weights": 8,
    "weight_exp": 4,
    "du": 12,
    "dv": 12,
    "vth": 17,
    "bias_mant": 13,
    "bias_exp": 3,
}
LIF_SCALARS = ("weight_exp", "du", "dv", "vth", "bias_exp")
NEURON_SCALARS = ("du", "dv", "vth", "bias_exp")
#: Bit widths of a conv layer's parameters (Lava's Conv: 8 bits and a sign, no normalization).
CONV_BIT_WIDTHS = {**SPIKING_BIT_WIDTHS, "weights": 9, "weight_exp": 3}
DELAY_BITS = 6
CONV_PAIRS = ("stride", "padding", "dilation")


def spiking_entry(p: LifLayerParams) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A Dense (or DelayDense) + LIF layer: its scalars, and weights, biases (and delays)."""
    record = {"type": "spiking", "n_in": p.n_in, "n_out": p.n_out}
    record |= {key: int(getattr(p, key)) for key in LIF_SCALARS}
    record["bit_widths"] = SPIKING_BIT_WIDTHS
    tensors = {"weights": p.weights.astype(np.int32), "bias_mant": p.bias_mant.astype(np.int32)}
    if p.delays is not None:
        record["bit_widths"] = {**SPIKING_BIT_WIDTHS, "delays": DELAY_BITS}
        tensors["delays"] = p.delays.astype(np.int32)
    return record | reset_entry(p.reset), tensors


def reset_entry(reset: str) -> dict[str, str]:
    """Reset to zero, the default, is not written (artifacts from before it read the same)."""
    return {} if reset == "zero" else {"reset": reset}


def conv_entry(p: ConvLayerParams) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A conv or sum-pool + LIF layer: the synapse's geometry, the neuron's scalars."""
    syn = p.synapse
    record: dict[str, Any] = {"type": "spiking_conv", "n_in": p.n_in, "n_out": p.n_out}
    record["input_shape"] = [int(d) for d in syn.input_shape]
    tensors = {"bias_mant": p.bias_mant.astype(np.int32)}
    if isinstance(syn, PoolSynapse):
        record |= {"synapse": "pool", "kernel": list(syn.kernel), "weight": int(syn.weight)}
    else:
        record |= {"synapse": "conv", "weight_exp": int(syn.weight_exp), "groups": int(syn.groups)}
        record |= {key: [int(v) for v in getattr(syn, key)] for key in CONV_PAIRS}
        tensors["weights"] = syn.weights.astype(np.int32)
    record |= {key: int(getattr(p, key)) for key in NEURON_SCALARS}
    record["bit_widths"] = CONV_BIT_WIDTHS
    return record | reset_entry(p.reset), tensors


def conv_from_entry(record: dict[str, Any], own: dict[str, np.ndarray]) -> ConvLayerParams:
    input_shape = tuple(int(d) for d in record["input_shape"])
    if record["synapse"] == "pool":
        kernel = tuple(int(k) for k in record["kernel"])
        synapse: ConvSynapse | PoolSynapse = PoolSynapse(kernel, int(record["weight"]), input_shape)
    elif record["synapse"] == "conv":
        pairs = {key: tuple(int(v) for v in record[key]) for key in CONV_PAIRS}
        synapse = ConvSynapse(
            own["weights"], input_shape, groups=int(record["groups"]),
            weight_exp=int(record["weight_exp"]), **pairs,
        )  # fmt: skip
    else:
        raise KeyError(f"synapse '{record['synapse']}' (conv or pool)")
    scalars = {key: int(record[key]) for key in NEURON_SCALARS}
    return ConvLayerParams(
        synapse, bias_mant=own["bias_mant"], reset=record.get("reset", "zero"), **scalars
    )


def op_entry(op: Op) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One op as a manifest record and its tensors (keyed `<op name>.<tensor>`)."""
    if isinstance(op, SpikingOp):
        entry = conv_entry if isinstance(op.params, ConvLayerParams) else spiking_entry
        record, tensors = entry(op.params)
    elif isinstance(op, EncoderOp):
        record = {
            "type": "encoder",
            "n": op.n,
            "steps": op.steps,
            "threshold": op.threshold,
            "dv": op.dv,
            **({} if op.values is None else {"values": op.values}),
            **({} if op.channels_first is None else {"channels_first": list(op.channels_first)}),
        }
        tensors = {}
    elif isinstance(op, SpikeSourceOp):
        record, tensors = {"type": "spike_source", "n": op.n, "steps": op.steps}, {}
        if op.channels_first is not None:
            record["channels_first"] = list(op.channels_first)
    elif isinstance(op, DecoderOp):
        record, tensors = {"type": "decoder", "n": op.n}, {"scale": op.scale}
    else:
        record = {"type": "dense", "op": op.op, "attrs": op.attrs}
        if "bits" in op.attrs:
            quantity = "activation" if op.op == "quant_act" else "weight"
            record["bit_widths"] = {quantity: op.attrs["bits"]}
        tensors = dict(op.tensors)
    record = {"name": op.name, **record, "tensors": sorted(tensors)}
    return record, {f"{op.name}.{key}": value for key, value in tensors.items()}


def graph_entries(graph: ModelGraph) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest's `graph` object and every tensor of the model."""
    records, tensors = [], {}
    for op in graph.ops:
        record, op_tensors = op_entry(op)
        records.append(record)
        tensors |= op_tensors
    graph_record = {
        "input_shape": list(graph.input_shape),
        "steps": graph.steps,
        "ops": records,
    }
    return graph_record, tensors


def image_dims(record: dict[str, Any]) -> tuple[int, int, int] | None:
    """An encoder's or spike source's `channels_first` [C, H, W] (checked in consistency.py)."""
    dims = record.get("channels_first")
    return None if dims is None else (int(dims[0]), int(dims[1]), int(dims[2]))


def op_from_entry(record: dict[str, Any], tensors: dict[str, np.ndarray]) -> Op:
    name = record["name"]
    own = {key: tensors[f"{name}.{key}"] for key in record["tensors"]}
    kind = record["type"]
    if kind in ("spiking", "spiking_conv"):
        if kind == "spiking":
            scalars = {key: int(record[key]) for key in LIF_SCALARS}
            params = LifLayerParams(
                weights=own["weights"], bias_mant=own["bias_mant"], delays=own.get("delays"),
                reset=record.get("reset", "zero"), **scalars,
            )  # fmt: skip
        else:
            params = conv_from_entry(record, own)
        params.validate(name)  # sizes, dtypes and neighbours were checked (consistency.py)
        return SpikingOp(name, params)
    if kind == "encoder":
        return EncoderOp(
            name,
            int(record["n"]),
            int(record["steps"]),
            float(record["threshold"]),
            float(record["dv"]),
            None if record.get("values") is None else int(record["values"]),
            image_dims(record),
        )
    if kind == "spike_source":
        return SpikeSourceOp(name, int(record["n"]), int(record["steps"]), image_dims(record))
    if kind == "decoder":
        return DecoderOp(name, int(record["n"]), own["scale"])
    if kind == "dense":
        return DenseOp(name, record["op"], dict(record["attrs"]), own)
    raise KeyError(f"type '{kind}'")


def _checked_op(path: Path, index: int, record: Any, tensors: dict[str, np.ndarray]) -> Op:
    """`op_from_entry`, with a malformed record reported as an ArtifactError naming the op."""
    try:
        return op_from_entry(record, tensors)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        where = record.get("name", index) if isinstance(record, dict) else index
        raise ArtifactError(
            f"{path}: op '{where}' is malformed (missing or invalid {exc}); fix: "
            f"re-export the model with this snapdeploy version"
        ) from exc


def graph_from_entries(path: Path, graph_record: Any, tensors: dict[str, np.ndarray]) -> ModelGraph:
    """Rebuild the graph, turning a malformed record into an ArtifactError naming the op.

    Every op is first checked against its tensors and neighbours (`consistency.check_ops`),
    from the model's input shape on, so no inconsistent op is ever built."""
    records = graph_record.get("ops", []) if isinstance(graph_record, dict) else []
    if isinstance(graph_record, dict) and isinstance(records, list):
        check_ops(
            path, records, tensors, graph_record.get("steps"), input_shape(path, graph_record)
        )
    ops = [_checked_op(path, index, record, tensors) for index, record in enumerate(records)]
    try:
        return ModelGraph(
            ops=tuple(ops),
            input_shape=tuple(int(d) for d in graph_record["input_shape"]),
            steps=int(graph_record["steps"]),
        )
    except (KeyError, TypeError) as exc:
        raise ArtifactError(
            f"{path}: the manifest's graph lacks {exc}; fix: re-export the model"
        ) from exc


def input_shape(path: Path, graph_record: dict[str, Any]) -> tuple[int, ...]:
    """The model's per-sample input shape as the manifest declares it: positive integers."""
    shape = graph_record.get("input_shape")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise InconsistentArtifactError(
            f"{path}: the graph's input_shape is {shape!r}, expected a list of positive "
            f"integers; fix: re-export the model"
        )
    return tuple(shape)


def save_model(path: str | Path, graph: ModelGraph, info: dict[str, Any]) -> Path:
    """Write `graph` with `info` (quantization settings, accuracies, ...) as a .snap file."""
    graph_record, tensors = graph_entries(graph)
    return write_artifact(path, {**info, "graph": graph_record}, tensors)


def load_model(path: str | Path) -> tuple[ModelGraph, Artifact]:
    """Read and verify a .snap file; return its graph and the artifact (manifest included)."""
    artifact = read_artifact(path)
    if "graph" not in artifact.manifest:
        raise ArtifactError(f"{artifact.path}: manifest has no 'graph'; fix: re-export the model")
    return graph_from_entries(artifact.path, artifact.manifest["graph"], artifact.tensors), artifact


def save_ops(path: str | Path, ops: tuple[Op, ...] | list[Op], info: dict[str, Any]) -> Path:
    """Write a run of ops (one partition) as a verified artifact of its own."""
    records, tensors = [], {}
    for op in ops:
        record, op_tensors = op_entry(op)
        records.append(record)
        tensors |= op_tensors
    return write_artifact(path, {**info, "ops": records}, tensors)


def load_ops(path: str | Path) -> tuple[list[Op], dict[str, Any]]:
    """Read a partition's ops back, verified like any artifact."""
    artifact = read_artifact(path)
    records = artifact.manifest.get("ops")
    if not isinstance(records, list):
        raise ArtifactError(f"{artifact.path}: manifest has no 'ops' list; fix: recompile")
    check_ops(artifact.path, records, artifact.tensors, artifact.manifest.get("steps"), None)
    return [
        _checked_op(artifact.path, i, r, artifact.tensors) for i, r in enumerate(records)
    ], artifact.manifest
