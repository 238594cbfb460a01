"""Dependencies point down the flow: the stages before the flow import nothing of the stages
after them, and nothing but the command line imports `cli` or `commands` (imports inside
functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "snapdeploy"
COMMAND_LINE = ("snapdeploy.cli", "snapdeploy.commands")
LATER = ("snapdeploy.flow", *COMMAND_LINE)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offenders(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """`module imports name` for each forbidden import of a module in `packages` ("" is all)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name.startswith(packages) and not name.startswith(COMMAND_LINE):
            found += [
                f"{name} imports {i}" for i in sorted(imports(path)) if i.startswith(forbidden)
            ]
    return found


@pytest.mark.parametrize(
    ("packages", "forbidden"),
    [
        (("snapdeploy.nn", "snapdeploy.data"), ("snapdeploy.quant", *LATER)),
        (("snapdeploy.quant",), ("snapdeploy.compile", "snapdeploy.runtime", *LATER)),
        (("snapdeploy.compile",), ("snapdeploy.runtime", *LATER)),
        (("snapdeploy.runtime", "snapdeploy.report"), LATER),
        (("",), COMMAND_LINE),
    ],
)
def test_earlier_stages_import_nothing_of_later_ones(packages, forbidden) -> None:
    assert offenders(packages, forbidden) == []
