"""Read a target file (a user's, or one shipped in targets/shipped/) into a checked `Target`.

This module owns only the file's shape: which tables exist, which keys each may hold, which
kind a device is. Types and ranges are checked by the spec dataclasses themselves (their field
rules), so a file and code that builds specs directly are held to the same limits. Every error
starts with the file's path and ends with a fix.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapdeploy.core.errors import TargetError
from snapdeploy.core.resources import package_path
from snapdeploy.targets.links import with_class_values
from snapdeploy.targets.schema import Checked, did_you_mean, limit, rules
from snapdeploy.targets.spec import DEVICE_TYPES, DeviceSpec, LinkSpec, Target

SHIPPED_TARGETS_DIR = package_path("snapdeploy.targets", "shipped")

_SECTIONS = ("target", "devices", "links", "mapping")


@dataclass(frozen=True)
class _Header(Checked):
    """The [target] table, made a spec so the same field rules check it."""

    name: str = limit()
    description: str = limit("", pattern=r"(?s).*", hint="any text")

    def location(self) -> str:
        return "[target]"


def shipped_targets() -> list[str]:
    """Names of the targets shipped with the package (snapdeploy/targets/shipped/)."""
    return sorted(path.stem for path in SHIPPED_TARGETS_DIR.glob("*.toml"))


def load_target(name_or_path: str | Path) -> Target:
    """Load a target from a .toml path, or by the name of a shipped target (e.g. 'emulator')."""
    path = _locate(name_or_path)
    try:
        return _build_target(_parse(path), path)
    except TargetError as error:
        raise TargetError(f"{path}: {error}") from None


def _locate(name_or_path: str | Path) -> Path:
    """A Path, or a string that looks like one, is a file; any other string names a shipped target."""
    given = Path(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, Path) or given.suffix == ".toml" or len(given.parts) > 1
    )
    path = given if looks_like_path else SHIPPED_TARGETS_DIR / f"{name_or_path}.toml"
    if path.is_file():
        return path
    shipped = shipped_targets()
    raise TargetError(
        f"target file {path} not found;{did_you_mean(given.stem, shipped)} fix: pass "
        f"the path of a .toml file or a shipped target: {', '.join(shipped)}"
    )


def _parse(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise TargetError(f"not valid TOML: {error}; fix the syntax there") from None


def _build_target(document: dict[str, Any], path: Path) -> Target:
    _refuse_unknown(document, _SECTIONS, "the top level")
    header = _build(_Header, _table(document, "target"), "[target]")
    devices = {
        name: _build_device(name, table)
        for name, table in _device_tables(_table(document, "devices"))
    }
    links = [
        _build(LinkSpec, with_class_values(table, f"[[links]] #{n}"), f"[[links]] #{n}")
        for n, table in enumerate(_links(document), start=1)
    ]
    return Target(
        name=header.name,
        description=header.description,
        path=path.resolve(),
        devices=devices,
        links=links,
        mapping=_mapping(document),
    )


def _mapping(document: dict[str, Any]) -> dict[str, str]:
    """The optional [mapping] table: partition name = "device name"."""
    table = document.get("mapping", {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise TargetError(
            "[mapping] must map partition names to device names; fix: write lines like "
            'p1_spiking = "fpga"'
        )
    return dict(table)


def _build_device(name: str, table: dict[str, Any]) -> DeviceSpec:
    """Pick the spec class from `kind`, then build it from the table's other keys."""
    where = f"[devices.{name}]"
    kind = table.get("kind")
    if not isinstance(kind, str) or kind not in DEVICE_TYPES:
        problem = "has no kind;" if kind is None else f"has unknown kind {kind!r};"
        suggestion = did_you_mean(kind, DEVICE_TYPES) if isinstance(kind, str) else ""
        raise TargetError(
            f"{where} {problem}{suggestion} fix: set kind to one of "
            f"{', '.join(map(repr, DEVICE_TYPES))}"
        )
    fields = {key: value for key, value in table.items() if key != "kind"}
    return _build(DEVICE_TYPES[kind], fields, f"{where} (kind {kind!r})", name=name)


def _build(cls: type[Checked], table: dict[str, Any], where: str, **fixed: Any) -> Any:
    """Build a spec from a table whose keys are exactly its rules' keys (defaults may be left out)."""
    by_key = {rule.key: rule for rule in rules(cls)}
    _refuse_unknown(table, tuple(by_key), where)
    for rule in by_key.values():
        if rule.required and rule.key not in table:
            raise TargetError(
                f"{where} is missing required key {rule.key!r}; fix: add "
                f"{rule.key} = <{rule.expected()}>"
            )
    return cls(**fixed, **{by_key[key].attr: value for key, value in table.items()})


def _refuse_unknown(table: dict[str, Any], valid: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in valid:
            raise TargetError(
                f"{where} has unknown key {key!r};{did_you_mean(key, valid)} fix: "
                f"rename or remove it (valid keys: {', '.join(valid)})"
            )


def _table(document: dict[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise TargetError(f"{key} = {value!r} must be a table; fix: write it as a [{key}] section")
    return value


def _device_tables(section: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The sub-tables of [devices]; a plain value there is a misplaced key."""
    for name, value in section.items():
        if not isinstance(value, dict):
            raise TargetError(
                f"[devices] {name} = {value!r} is not a table; fix: describe the "
                f"device in its own [devices.{name}] table"
            )
    return list(section.items())


def _links(document: dict[str, Any]) -> list[dict[str, Any]]:
    links = document.get("links", [])
    if not isinstance(links, list) or not all(isinstance(link, dict) for link in links):
        keys = ", ".join(rule.key for rule in rules(LinkSpec))
        raise TargetError(
            "links must be an array of tables; fix: write each link as its own "
            f"[[links]] section (two brackets) with {keys}"
        )
    return links
