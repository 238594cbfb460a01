"""A wheel works as well as a checkout: it holds every file the package reads at run time, and
an installed copy finds them through importlib.resources, never through the repository root.

The wheel is built from a copy of the checkout (pyproject.toml, README.md, snapdeploy/), so a
stale build/ folder in the checkout cannot supply a file the package data no longer declares.
Building takes about 3 s and installing about 2 s, so this stays an ordinary test. The last
test is CI's board check: the wheel with its core dependencies only, no torch.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from snapdeploy.artifact.model import save_model
from snapdeploy.quant.export import export_model
from snapdeploy.runtime import Deployment
from tests.board import Board, compiled, free_port
from tests.models import hybrid_net

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "snapdeploy"
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")

#: Run inside the installed copy: every runtime reader's file, where it is, and that it loads.
PROBE = """
import json, snapdeploy
from snapdeploy.backends.fpga.board import BITSTREAMS_DIR, MANIFEST
from snapdeploy.backends.hls.writer import CORE_DIR, TEMPLATE
from snapdeploy.backends.spinnaker import synapses
from snapdeploy.core import lif_native
from snapdeploy.report.constants import CONSTANTS_FILE, load_constants
from snapdeploy.targets import load_target, shipped_targets
files = [
    load_target("emulator").path, lif_native.SOURCE, synapses.SOURCE, CORE_DIR / TEMPLATE,
    BITSTREAMS_DIR / MANIFEST, CONSTANTS_FILE,
]
load_constants()
print(json.dumps({
    "package": snapdeploy.__file__,
    "files": {str(path): path.is_file() for path in files},
    "targets": shipped_targets(),
}))
"""


def package_files() -> set[str]:
    """Every file under snapdeploy/ in the checkout, as a wheel names it: Python and data alike,
    so a new runtime file that pyproject.toml does not declare fails here."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".so"}
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(PACKAGE, source / "snapdeploy", ignore=CACHES)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(work / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = (work / "dist").glob("snapdeploy-*.whl")
    return built


def test_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("snapdeploy/")}
    assert package_files() - shipped == set()
    assert {"snapdeploy/targets/shipped/emulator.toml", "snapdeploy/core/lif_int.cpp"} <= shipped


def venv_with(wheel: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A fresh venv under `tmp_path` holding the wheel alone (no dependencies); its directory
    and its site-packages."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install"]
        + ["--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    (site_dir,) = (env_dir / "lib").glob("python*/site-packages")
    return env_dir, site_dir


def without_pythonpath() -> dict[str, str]:
    """This environment less PYTHONPATH, so nothing can reach the checkout."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def test_installed_wheel_finds_its_files_without_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """And runs `snapdeploy demo --tiny` there. The venv sees this interpreter's dependencies
    through a .pth line (a path there is only appended to sys.path: the checkout's editable
    finder is not installed), and runs from tmp_path, so snapdeploy can only come from the
    wheel."""
    env_dir, site_dir = venv_with(wheel, tmp_path)
    python = env_dir / "bin" / "python"
    (site_dir / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    environ = without_pythonpath()
    run = subprocess.run(
        [str(python), "-c", PROBE],
        check=False,
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    installed = site_dir.resolve()
    assert Path(found["package"]).resolve().is_relative_to(installed)
    assert all(Path(path).resolve().is_relative_to(installed) for path in found["files"]), found
    assert all(found["files"].values()), found["files"]
    assert "emulator" in found["targets"]
    demo = subprocess.run(
        [str(env_dir / "bin" / "snapdeploy"), "demo", "--tiny", "--out", str(tmp_path / "demo")],
        check=False,
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert (tmp_path / "demo" / "model.snap").is_file()


def core_requirements(wheel: Path) -> list[Requirement]:
    """The wheel's own dependencies without any extra, as its METADATA declares them."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        fields = Parser().parsestr(archive.read(name).decode())
    found = [Requirement(line) for line in fields.get_all("Requires-Dist") or []]
    return [r for r in found if r.marker is None or r.marker.evaluate({"extra": ""})]


def core_site(wheel: Path, site_dir: Path) -> set[str]:
    """Links in `site_dir` to this interpreter's installs of the core dependencies and theirs,
    and nothing else (so no torch); the distributions linked."""
    todo, done = core_requirements(wheel), set()
    while todo:
        requirement = todo.pop()
        dist = metadata.distribution(requirement.name)
        key = dist.metadata["Name"].lower()
        if key in done:
            continue
        done.add(key)
        todo += [
            r
            for r in map(Requirement, dist.requires or [])
            if r.marker is None or r.marker.evaluate({"extra": ""})
        ]
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            source = Path(dist.locate_file(top))
            if not top.endswith((".dist-info", ".pth")) and top != ".." and source.exists():
                (site_dir / top).unlink(missing_ok=True)
                (site_dir / top).symlink_to(source)
    return done


def test_wheel_without_torch_runs_the_board_side(wheel: Path, tmp_path: Path) -> None:
    """CI's board check: the wheel in a venv holding only its core dependencies (no torch, no
    extra) runs --help, inspects an artifact, and serves a compiled spiking partition to the
    host pipeline of this venv over 127.0.0.1, with outputs equal to the in-process run."""
    env_dir, site_dir = venv_with(wheel, tmp_path)
    python = env_dir / "bin" / "python"
    linked = core_site(wheel, site_dir)
    assert {"numpy", "pyzmq", "safetensors", "typer", "rich"} <= linked
    assert not {"torch", "brevitas", "matplotlib", "scikit-learn", "pynq"} & linked
    environ = without_pythonpath()
    cli = [str(env_dir / "bin" / "snapdeploy")]

    def board_side(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*args], cwd=tmp_path, env=environ, capture_output=True, text=True, check=False
        )

    assert board_side(str(python), "-c", "import torch").returncode != 0
    assert board_side(*cli, "--help").returncode == 0
    model = save_model(tmp_path / "m.snap", export_model(hybrid_net([4, 3], 4, n_in=5)), {})
    shown = board_side(*cli, "inspect", str(model))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["graph"]["steps"] == 4

    port = free_port()
    remote = compiled(tmp_path, f"tcp://127.0.0.1:{port}")
    board = Board(remote, port, cli, cwd=tmp_path, env=environ)
    board.start()
    try:
        inputs = np.random.default_rng(0).normal(0, 1, (5, 6)).astype(np.float32)
        with Deployment.load(remote) as there, Deployment.load(compiled(tmp_path, None)) as here:
            served = there.run(inputs, progress=False, timeout=30.0).outputs
            np.testing.assert_array_equal(served, here.run(inputs, progress=False).outputs)
    finally:
        board.stop()
