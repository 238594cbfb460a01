"""A NIR graph as the one chain of nodes snapdeploy can schedule, or a named error.

Nested graphs (snnTorch writes recurrent layers as subgraphs) are inlined first, so a
recurrence anywhere shows up as a cycle. Our networks are feed-forward chains: one input,
one output, every node with one predecessor and one successor.
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np

from snapdeploy.interop.errors import NirFormatError, NirGraphError

#: What h5py and nir raise on a file that is not a NIR graph.
READ_ERRORS = (OSError, KeyError, ValueError, TypeError, AssertionError, AttributeError)


def load_graph(source: str | Path | nir.NIRGraph) -> nir.NIRGraph:
    """A NIR graph from a file (read without nir's type check: we check shapes ourselves)."""
    if isinstance(source, nir.NIRGraph):
        return source
    path = Path(source)
    if not path.is_file():
        raise NirFormatError(f"{path}: no such file; fix: give the path of a .nir file")
    try:
        graph = nir.read(path, type_check=False)
    except READ_ERRORS as exc:
        raise NirFormatError(
            f"{path}: not a readable NIR graph ({type(exc).__name__}: {exc}); fix: write it "
            f"with nir.write (or your framework's NIR export) and check the file is whole"
        ) from exc
    if not isinstance(graph, nir.NIRGraph):
        raise NirFormatError(
            f"{path}: holds a single {type(graph).__name__} node, not a NIRGraph; fix: wrap "
            f"it with nir.NIRGraph.from_list(...)"
        )
    return graph


def inline(
    graph: nir.NIRGraph, prefix: str = ""
) -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """Nodes and edges with every subgraph replaced by its own nodes (names `outer.inner`).

    A subgraph's Input and Output stay as pass-through nodes, so edges into and out of the
    subgraph keep their meaning; `chain` skips them.
    """
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            inner_nodes, inner_edges = inline(node, f"{prefix}{name}.")
            nodes |= inner_nodes
            edges += inner_edges
        else:
            nodes[prefix + name] = node

    def endpoint(name: str, role: type) -> str:
        node = graph.nodes.get(name)
        if isinstance(node, nir.NIRGraph):
            ends = [k for k, n in node.nodes.items() if isinstance(n, role)]
            if len(ends) != 1:
                raise NirGraphError(
                    f"subgraph '{prefix}{name}' has {len(ends)} {role.__name__} nodes; "
                    f"snapdeploy inlines subgraphs with exactly one; fix: split it"
                )
            return f"{prefix}{name}.{ends[0]}"
        return prefix + name

    for src, dst in graph.edges:
        edges.append((endpoint(src, nir.Output), endpoint(dst, nir.Input)))
    return nodes, edges


def find_cycle(successors: dict[str, list[str]]) -> list[str] | None:
    """One cycle's node names in order, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for root, first in successors.items():
        if state.get(root):
            continue
        path, stack = [root], [iter(first)]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(successors[nxt]))
    return None


def chain(graph: nir.NIRGraph) -> tuple[np.ndarray, list[tuple[str, nir.NIRNode]]]:
    """The top-level input's shape and the nodes from input to output, in order."""
    nodes, edges = inline(graph)
    missing = sorted({n for edge in edges for n in edge if n not in nodes})
    if missing:
        raise NirFormatError(
            f"edges name nodes the graph lacks: {', '.join(missing)}; fix: re-export the graph"
        )
    successors: dict[str, list[str]] = {name: [] for name in nodes}
    predecessors: dict[str, list[str]] = {name: [] for name in nodes}
    for src, dst in dict.fromkeys(edges):
        successors[src].append(dst)
        predecessors[dst].append(src)
    cycle = find_cycle(successors)
    if cycle:
        raise NirGraphError(
            f"the graph has a cycle {' -> '.join(cycle)}; snapdeploy schedules feed-forward "
            f"chains only (no recurrent layers); fix: export a model without recurrence "
            f"(e.g. snnTorch Leaky instead of RLeaky)"
        )
    inputs = [n for n in graph.nodes if isinstance(graph.nodes[n], nir.Input)]
    outputs = [n for n in graph.nodes if isinstance(graph.nodes[n], nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NirGraphError(
            f"the graph has {len(inputs)} inputs and {len(outputs)} outputs; snapdeploy runs "
            f"graphs with exactly one of each; fix: export one input and one output"
        )
    order, name = [], inputs[0]
    while name != outputs[0]:
        if len(successors[name]) != 1:
            raise NirGraphError(
                f"node '{name}' feeds {len(successors[name])} nodes "
                f"({', '.join(successors[name]) or 'none'}); snapdeploy deploys chains "
                f"without branches; fix: export a sequential model"
            )
        name = successors[name][0]
        if len(predecessors[name]) != 1:
            raise NirGraphError(
                f"node '{name}' sums {len(predecessors[name])} inputs "
                f"({', '.join(predecessors[name])}); snapdeploy deploys chains without "
                f"merges; fix: export a sequential model"
            )
        order.append(name)
    unreached = sorted(set(nodes) - set(order) - {inputs[0]})
    if unreached:
        raise NirGraphError(
            f"nodes not on the path from input to output: {', '.join(unreached)}; fix: "
            f"remove them or connect them in sequence"
        )
    steps = [(n, nodes[n]) for n in order[:-1] if not isinstance(nodes[n], (nir.Input, nir.Output))]
    shape = np.asarray(graph.nodes[inputs[0]].input_type["input"]).astype(int)
    return shape, steps
