"""The dependency split holds: a board's modules run without torch, and every module that
needs an optional extra names it when it is missing.

Both run in a fresh interpreter, since this one has long imported torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from snapdeploy.core.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[1]

#: What `snapdeploy serve` and `inspect` load on a board (numpy, and pynq for a real core).
BOARD_MODULES = [
    "snapdeploy.core.graph",
    "snapdeploy.core.neuron",
    "snapdeploy.core.packets",
    "snapdeploy.artifact",
    "snapdeploy.artifact.model",
    "snapdeploy.backends.registry",
    "snapdeploy.backends.reference",
    "snapdeploy.backends.hls",
    "snapdeploy.backends.fpga.executor",
    "snapdeploy.backends.fpga.board",
    "snapdeploy.compile",
    "snapdeploy.runtime",
    "snapdeploy.runtime.pipeline",
    "snapdeploy.runtime.links",
    "snapdeploy.runtime.board_link",
    "snapdeploy.runtime.serve",
    "snapdeploy.cli",
    "snapdeploy.commands.inspect",
    "snapdeploy.commands.serve",
]

#: Every extra's modules, made uninstallable (None in sys.modules is what `import` and
#: importlib.util.find_spec both treat as absent); then every module file of snapdeploy, imported
#: (a package whose __init__ names the extra is walked into all the same).
WALK = """
import importlib, json, sys
from pathlib import Path
import snapdeploy
from snapdeploy.core.extras import MissingExtraError
for name in sys.argv[1:]:
    sys.modules[name] = None
root = Path(snapdeploy.__file__).parent.parent
outcome = {}
for path in sorted(Path(snapdeploy.__file__).parent.rglob("*.py")):
    name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
    try:
        importlib.import_module(name)
        outcome[name] = "ok"
    except MissingExtraError as exc:
        outcome[name] = "extra " + str(exc)
    except Exception as exc:
        outcome[name] = f"raw {type(exc).__name__}: {exc}"
print(json.dumps(outcome))
"""


def python(code: str, *args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_board_side_modules_never_import_torch() -> None:
    heavy = sorted(EXTRAS["train"])
    code = (
        f"import json, sys\nimport {', '.join(BOARD_MODULES)}\n"
        f"print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
    )
    assert json.loads(python(code)) == []


def test_every_module_that_needs_a_missing_extra_names_it() -> None:
    blocked = sorted(set().union(*EXTRAS.values()))
    outcome = json.loads(python(WALK, *blocked))
    raw = {name: why for name, why in outcome.items() if why.startswith("raw")}
    assert raw == {}
    fpga = {"snapdeploy.backends.hls", "snapdeploy.backends.fpga.executor"}  # pynq's buffers
    for module in BOARD_MODULES:
        if module in fpga or module.startswith("snapdeploy.backends.fpga"):
            assert "needs the 'fpga' extra" in outcome[module], outcome[module]
        else:
            assert outcome[module] == "ok", (module, outcome[module])
    assert "needs the 'train' extra" in outcome["snapdeploy.nn.lif"]
    assert "needs the 'lava' extra" in outcome["snapdeploy.backends.lava.processes"]
    assert "needs the 'nir' extra" in outcome["snapdeploy.interop.reader"]


def test_a_command_that_needs_a_missing_extra_says_so_in_one_line(tmp_path: Path) -> None:
    code = (
        "import sys\nsys.modules['sklearn'] = None\nfrom snapdeploy.cli import app\n"
        f"app(['demo', '--out', {str(tmp_path / 'out')!r}])"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "needs the 'train' extra (sklearn is not installed)" in run.stderr
