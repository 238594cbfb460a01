"""Named link classes: a target's [[links]] says `class = "ucie-advanced"` and takes that
class's bandwidth, latency and energy per bit from the sourced constants
(`snapdeploy/report/constants.toml`), so a chiplet architect compares link technologies by
name; a value the link gives itself wins over its class's.
"""

from __future__ import annotations

import tomllib
from typing import Any

from snapdeploy.core.errors import TargetError
from snapdeploy.core.resources import package_path
from snapdeploy.targets.schema import did_you_mean

#: The report's constants file, read here as plain TOML: importing `snapdeploy.report` would
#: import the report (and torch) wherever a target is loaded, a board included.
CONSTANTS = ("report", "constants.toml")

#: Class name -> the constants of its (bandwidth_gbps, latency_ns, energy_pj_per_bit).
LINK_CLASSES: dict[str, tuple[str, str, str]] = {
    "ucie-advanced": ("ucie_advanced_gbps", "ucie_latency_ns", "ucie_advanced_pj_per_bit"),
    "ucie-standard": ("ucie_standard_gbps", "ucie_latency_ns", "ucie_standard_pj_per_bit"),
    "board-serdes": ("serdes_gbps", "serdes_latency_ns", "serdes_pj_per_bit"),
    "pcie5-x16": ("pcie5_x16_gbps", "pcie5_latency_ns", "pcie5_pj_per_bit"),
    "ethernet-optical": ("optical_gbps", "optical_latency_ns", "optical_pj_per_bit"),
}
LINK_KEYS = ("bandwidth_gbps", "latency_ns", "energy_pj_per_bit")


def with_class_values(table: dict[str, Any], where: str) -> dict[str, Any]:
    """A [[links]] table with the keys its `class` supplies filled in (those it gives kept)."""
    name = table.get("class")
    if name is None:
        return table
    if name not in LINK_CLASSES:
        hint = did_you_mean(name, LINK_CLASSES) if isinstance(name, str) else ""
        raise TargetError(
            f"{where} has unknown class {name!r};{hint} fix: use one of "
            f"{', '.join(map(repr, LINK_CLASSES))}, or leave class out and give "
            f"{', '.join(LINK_KEYS)}"
        )
    path = package_path("snapdeploy", *CONSTANTS)
    constants = tomllib.loads(path.read_text())
    missing = [c for c in LINK_CLASSES[name] if c not in constants]
    if missing:
        raise TargetError(
            f"{where}: class {name!r} needs constants {missing}, which {path} lacks; fix: "
            f"restore them (value, unit, source)"
        )
    values = {key: constants[c]["value"] for key, c in zip(LINK_KEYS, LINK_CLASSES[name])}
    return values | table
