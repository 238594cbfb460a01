"""Which optional synapse engines a partition's core is built with, and the refusal of a
layer table that needs one its core lacks.

Verilator evaluates the whole design every cycle and yosys maps all of it, so an engine a
partition never uses still costs simulation time and LUTs: the conv engine (its divisions,
kernel taps and accumulator rotation; sum pools run on it) and the delay path (the delay
RAM and per-lane accumulator addressing) are compiled in only where a layer needs them
(the header's SNAP_HAS_CONV and SNAP_HAS_DELAY). Dense rows run on every core.
"""

from __future__ import annotations

from collections.abc import Iterable

from snapdeploy.core.errors import BackendError

#: The optional engines, by the synapse kind (layout.SYNAPSE_KINDS) that needs each.
ENGINES = ("delay", "conv")


class MissingEngineError(BackendError):
    """A layer needs a synapse engine its core was built without."""


def engines_for(kinds: Iterable[str]) -> frozenset[str]:
    """The optional engines layers of these synapse kinds need."""
    return frozenset(kinds) & frozenset(ENGINES)


def check_engines(kinds: Iterable[str], engines: Iterable[str], where: str) -> None:
    """Refuse, naming the first layer and its kind, layers whose engine `engines` lacks."""
    built = frozenset(engines)
    for index, kind in enumerate(kinds):
        if kind in ENGINES and kind not in built:
            have = ", ".join(sorted(built)) or "Dense only"
            raise MissingEngineError(
                f"{where}: layer {index} needs the core's {kind} engine but this core was "
                f"built without it ({have}); fix: compile the partition again, so its core "
                f"includes the {kind} engine"
            )
