"""The energy model's constants, read from one data file where each carries its source.

Keeping them in `constants.toml` (value, unit, source) means every estimate in a report can be
traced to a stated figure, and a user can swap in measured ones without touching code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.resources import package_path

CONSTANTS_FILE = package_path("snapdeploy.report", "constants.toml")


class ConstantsError(SnapdeployError):
    """The constants file is malformed or lacks a constant the model needs."""


@dataclass(frozen=True)
class Constant:
    value: float
    unit: str
    source: str


class Constants(dict[str, Constant]):
    """Constants by name; a missing one is a named error, not a KeyError."""

    path: Path = CONSTANTS_FILE

    def __missing__(self, name: str) -> Constant:
        raise ConstantsError(
            f"{self.path}: no constant [{name}]; fix: add it with value, unit and source"
        )

    def value(self, name: str) -> float:
        return self[name].value

    def to_json(self) -> dict[str, dict[str, object]]:
        return {k: {"value": c.value, "unit": c.unit, "source": c.source} for k, c in self.items()}


def load_constants(path: Path = CONSTANTS_FILE) -> Constants:
    """Every constant of `path`; each must have a number, a unit and a non-empty source."""
    try:
        table = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConstantsError(f"{path}: cannot read the energy constants ({error})") from None
    constants = Constants()
    constants.path = Path(path)
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) != {"value", "unit", "source"}:
            raise ConstantsError(
                f"{path}: [{name}] must hold exactly value, unit and source; fix: add the "
                f"missing keys"
            )
        value, unit, source = entry["value"], entry["unit"], entry["source"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConstantsError(f"{path}: [{name}] value {value!r} is not a number >= 0")
        if not isinstance(source, str) or not source.strip():
            raise ConstantsError(
                f"{path}: [{name}] has no source; fix: say where the figure comes from, or "
                f"'assumed: why'"
            )
        constants[name] = Constant(float(value), str(unit), source)
    return constants
