"""Cut any torch model into dies, with a spike boundary at every cut (SNAP).

The model is a sequence of stages: an `nn.Sequential` (or a list of modules), or any module
whose forward calls its top-level children in order, with residuals or other glue between
them. torch.fx traces that forward with each top-level child as one opaque stage (so a stage
may hold attention, normalization, residuals, dropout, anything), and a cut falls before the
named stage. Everything a later die uses from an earlier one must cross the cut: if a value
other than the cut's input does (a skip connection spanning the cut), no spike link carries
it, so the cut is refused with the value, its producer and its consumer named. The traced
graph is then split into one module per die, and a `CutBoundary` goes between each pair.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import fx, nn
from torch.fx.passes.split_module import split_module

from snapdeploy.core.errors import ModelStructureError, SkipConnectionError
from snapdeploy.nn.cut_boundary import CutBoundary, channel_axis

#: The share of |activation| below the initial encoder threshold (the rest saturates).
THRESHOLD_QUANTILE = 0.99
#: Most values sampled for that quantile (torch.quantile's input limit is far above).
QUANTILE_SAMPLE = 1 << 20


class StageTracer(fx.Tracer):
    """Traces only the top level: each direct child of the model is one call (a stage)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return "." not in module_qualified_name or super().is_leaf_module(m, module_qualified_name)


def as_model(stages: nn.Module | Sequence[nn.Module]) -> nn.Module:
    if isinstance(stages, nn.Module) and not isinstance(stages, nn.ModuleList):
        return stages
    return nn.Sequential(*stages)


def trace(model: nn.Module) -> fx.GraphModule:
    """The model's top-level forward as a graph of stage calls, or a named refusal."""
    try:
        graph = StageTracer().trace(model)
    except Exception as err:  # fx reports untraceable control flow with many error types
        raise ModelStructureError(
            f"{type(model).__name__}'s forward cannot be traced at the stage level by "
            f"torch.fx ({type(err).__name__}: {err}); fix: pass the stages as an "
            f"nn.Sequential, or move the control flow inside a stage"
        ) from err
    return fx.GraphModule(model, graph)


def stage_name(names: list[str], cut: int | str) -> str:
    """The stage a cut falls before: an index into the stages (1..n-1) or a stage's name."""
    if isinstance(cut, str):
        if cut not in names:
            raise ModelStructureError(
                f"cut '{cut}' names no stage; the stages are {names}; fix: use one of them"
            )
        index = names.index(cut)
    else:
        index = int(cut)
    if not 1 <= index < len(names):
        raise ModelStructureError(
            f"cut {cut!r} is at stage index {index}; a cut falls before a stage and must "
            f"leave a stage on each side, so it lies in 1..{len(names) - 1}"
        )
    return names[index]


def cut_calls(gm: fx.GraphModule, names: list[str], cuts: Sequence[int | str]) -> list[fx.Node]:
    """The call node of each cut's stage, checked to come in the order of the cuts."""
    calls = {}
    for node in gm.graph.nodes:
        if node.op == "call_module" and node.target not in calls:
            calls[node.target] = node
    order = {node: i for i, node in enumerate(gm.graph.nodes)}
    nodes = []
    for cut in cuts:
        name = stage_name(names, cut)
        if name not in calls:
            raise ModelStructureError(
                f"cut before stage '{name}': the model's forward never calls it; fix: cut "
                f"before a stage the forward uses"
            )
        nodes.append(calls[name])
    positions = [order[n] for n in nodes]
    if positions != sorted(set(positions)):
        raise ModelStructureError(
            f"cuts {list(cuts)} are not distinct and in the order the forward calls their "
            f"stages; fix: list each cut once, in execution order"
        )
    return nodes


def die_of(gm: fx.GraphModule, calls: list[fx.Node]) -> dict[fx.Node, int]:
    """Which die each node runs on: the number of cut stages called at or before it.

    Weights read at the top level (get_attr) go with their first user, as no link sends them.
    """
    dies: dict[fx.Node, int] = {}
    die = 0
    for node in gm.graph.nodes:
        if die < len(calls) and node is calls[die]:
            die += 1
        dies[node] = die
    for node in gm.graph.nodes:
        if node.op == "get_attr" and node.users:
            dies[node] = min(dies[user] for user in node.users)
    return dies


def describe(node: fx.Node) -> str:
    if node.op == "call_module":
        return f"the output of stage '{node.target}'"
    if node.op == "placeholder":
        return f"the model input '{node.target}'"
    return f"'{node.name}' ({node.op} {getattr(node.target, '__name__', node.target)})"


def check_crossings(gm: fx.GraphModule, calls: list[fx.Node], dies: dict[fx.Node, int]) -> None:
    """Only each cut's input (its stage's argument) may cross it; refuse any other value."""
    for k, call in enumerate(calls, start=1):
        if len(call.args) != 1 or call.kwargs or not isinstance(call.args[0], fx.Node):
            raise ModelStructureError(
                f"cut before stage '{call.target}': the stage takes {len(call.args)} "
                f"positional and {len(call.kwargs)} keyword inputs, but a spike boundary "
                f"carries one tensor; fix: cut before a stage that takes one tensor"
            )
        main = call.args[0]
        for node in gm.graph.nodes:
            if node is main or node.op == "get_attr" or dies[node] >= k:
                continue
            late = [user for user in node.users if dies[user] >= k]
            if late:
                raise SkipConnectionError(
                    f"cut before stage '{call.target}' is spanned by a skip connection: "
                    f"{describe(node)} is used after the cut by {describe(late[0])}, but "
                    f"only the stage's input crosses a spike boundary; fix: move the cut "
                    f"where the residual has closed, or keep both ends on one die"
                )


def crossing_activations(gm: fx.GraphModule, example: tuple, calls: list[fx.Node]) -> list:
    """Each cut's input on the example (what its stage's first call receives), computed once
    in eval mode (no BatchNorm update). Hooks, not fx.Interpreter: its progress bar takes a
    multiprocessing lock, which fixes the start method before Lava can choose its own."""
    seen: dict[str, torch.Tensor] = {}

    def recorder(name: str):
        def record(module: nn.Module, args: tuple) -> None:
            seen.setdefault(name, args[0])

        return record

    modes = {m: m.training for m in gm.modules()}
    hooks = [
        gm.get_submodule(str(call.target)).register_forward_pre_hook(recorder(str(call.target)))
        for call in calls
    ]
    gm.eval()
    try:
        with torch.no_grad():
            gm(*example)
    finally:
        for hook in hooks:
            hook.remove()
        for module, mode in modes.items():
            module.train(mode)
    values = []
    for call in calls:
        value = seen[str(call.target)]
        where = f"cut before stage '{call.target}'"
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ModelStructureError(
                f"{where}: the value crossing it is a {type(value).__name__}, not a float "
                f"tensor; fix: cut where one activation tensor flows"
            )
        channel_axis(value.shape, where)
        values.append(value)
    return values


def initial_threshold(value: torch.Tensor) -> float:
    """A threshold at the activation's 99th |value| percentile: most values code unsaturated."""
    flat = value.detach().abs().flatten().float()
    if flat.numel() > QUANTILE_SAMPLE:
        flat = flat[torch.randperm(flat.numel(), device=flat.device)[:QUANTILE_SAMPLE]]
    return max(float(torch.quantile(flat, THRESHOLD_QUANTILE)), 1e-3)


class SnapCutNet(nn.Module):
    """Dies (the model's stages, split at the cuts) joined by spike boundaries (or by the
    integer boundaries of `int_boundary.int_cut`, the non-spiking alternative)."""

    def __init__(self, dies: list[nn.Module], boundaries: list[nn.Module], cuts: list[str]):
        super().__init__()
        self.dies = nn.ModuleList(dies)
        self.boundaries = nn.ModuleList(boundaries)
        self.cuts = cuts
        self.spiking = True

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.dies[0](*inputs)
        for boundary, die in zip(self.boundaries, self.dies[1:]):
            x = die(boundary(x) if self.spiking else x)
        return x

    def set_spiking(self, on: bool) -> SnapCutNet:
        """With `on=False` activations cross the cuts unchanged: the dense baseline."""
        self.spiking = on
        return self

    def sparsity_loss(self) -> torch.Tensor:
        """Mean spike rate over every boundary's encoder and spiking layers: link traffic."""
        rates = [rate for b in self.boundaries for rate in b.rates()]
        if not rates:
            raise RuntimeError("sparsity_loss() needs a spiking forward pass first")
        return torch.stack(rates).mean()


def snap_cut(
    stages: nn.Module | Sequence[nn.Module],
    cuts: Sequence[int | str],
    steps: int,
    example: torch.Tensor | tuple[torch.Tensor, ...],
    signed: bool | None = None,
    hidden: Sequence[int] = (),
    dv: float = 0.0,
    gradient: str = "surrogate",
) -> SnapCutNet:
    """Cut `stages` before each stage in `cuts` (indices or names) into dies joined by spike
    boundaries over `steps` time steps.

    `example` is one input batch, used to find each crossing tensor's shape and an initial
    encoder threshold. `signed=None` codes a cut as signed (two spike channels per value)
    when its example activation has negative values. `hidden` adds spiking Dense+LIF layers
    of those widths inside every boundary. `gradient` is how the encoders train: the LIF's
    "surrogate" or the coded "rate" (see `SpikeEncoder`; docs/snap_eval.md measures both).
    The stage modules are shared, not copied.
    """
    if steps < 1:
        raise ModelStructureError(f"steps={steps} must be at least 1")
    if not cuts:
        raise ModelStructureError("no cuts given; fix: name at least one stage to cut before")
    model = as_model(stages)
    names = [name for name, _ in model.named_children()]
    gm = trace(model)
    calls = cut_calls(gm, names, cuts)
    dies = die_of(gm, calls)
    check_crossings(gm, calls, dies)
    example = example if isinstance(example, tuple) else (example,)
    values = crossing_activations(gm, example, calls)
    split = split_module(gm, model, lambda node: dies[node], keep_original_order=True)
    boundaries = []
    for value in values:
        axis = channel_axis(value.shape, "cut")
        is_signed = bool((value < 0).any()) if signed is None else signed
        boundary = CutBoundary(
            value.shape[axis], steps, is_signed, hidden, initial_threshold(value), dv, gradient
        )
        boundaries.append(boundary.to(value.device))
    parts = [getattr(split, f"submod_{k}") for k in range(len(calls) + 1)]
    return SnapCutNet(parts, boundaries, [str(call.target) for call in calls])
