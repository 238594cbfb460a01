"""The command line: `demo --tiny` runs the whole flow and writes its outputs, `inspect` prints a
manifest, and every bad input ends in exit code 1 with one line naming it and the fix, no
traceback (unless --debug)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snapdeploy.artifact.model import load_model
from snapdeploy.cli import app
from snapdeploy.core.errors import ArtifactError, SnapdeployError, TargetError
from snapdeploy.targets import SHIPPED_TARGETS_DIR

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HEADLINE = {"float_accuracy", "deployed_accuracy", "boundary_bytes_fp16_over_spikes"}


def invoke(*args: str, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def snapshot(root: Path) -> dict[str, bytes | None]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def assert_one_line_error(result, *names: str) -> str:
    """Exit 1, a single `error:` line on stderr naming each of `names` and a fix, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # our error was handled, not propagated
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ")
    assert "Traceback" not in result.output
    for name in names:
        assert name in line, line
    assert "fix" in line or "re-export" in line or "check the path" in line, line
    return line


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    result = invoke("demo", "--tiny", "--out", out)
    return out, result


def test_demo_tiny_exits_0_and_prints_the_table(demo_run):
    out, result = demo_run
    assert result.exit_code == 0, result.output
    head = json.loads((out / "report.json").read_text())["headline"]
    printed = result.stdout
    for text in (
        "float accuracy",
        "deployed accuracy",
        "emulator",
        "p0_dense",
        "p1_spiking",
        f"{100 * head['float_accuracy']:.1f}",
        f"{100 * head['deployed_accuracy']:.1f}",
    ):
        assert text in printed, text
    assert str(out / "report.json") in printed.replace("\n", "")


def test_demo_tiny_writes_report_plot_artifact_and_build(demo_run):
    out, _ = demo_run
    assert {p.name for p in out.iterdir()} == {"report.json", "report.png", "model.snap", "build"}

    report = json.loads((out / "report.json").read_text())
    assert set(report["headline"]) == HEADLINE
    for key in ("float_accuracy", "deployed_accuracy"):
        assert 0.0 <= report["headline"][key] <= 1.0
    wire = sum(b["wire_bytes"] for b in report["boundaries"])
    fp16 = sum(b["fp16_bytes"] for b in report["boundaries"])
    assert report["headline"]["boundary_bytes_fp16_over_spikes"] == pytest.approx(fp16 / wire)
    assert report["target"] == "emulator"
    assert report["test_samples"] == 75  # --tiny keeps 300 samples, a quarter for testing

    assert (out / "report.png").read_bytes().startswith(PNG_MAGIC)
    graph, artifact = load_model(out / "model.snap")
    assert artifact.manifest["float_accuracy"] == report["headline"]["float_accuracy"]
    build = out / "build"
    assert {p.name for p in build.iterdir()} == {
        "build.json",
        "plan.json",
        "p0_dense",
        "p1_spiking",
        "p2_dense",
    }
    assert json.loads((build / "build.json").read_text())["steps"] == graph.steps


def test_inspect_prints_the_manifest(demo_run):
    out, _ = demo_run
    result = invoke("inspect", out / "model.snap")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    _, artifact = load_model(out / "model.snap")
    assert manifest == artifact.manifest
    assert [op["type"] for op in manifest["graph"]["ops"]] == [
        "dense",
        "dense",
        "encoder",
        "spiking",
        "decoder",
        "dense",
    ]


def test_inspect_a_missing_file(tmp_path):
    missing = tmp_path / "nowhere" / "model.snap"
    assert_one_line_error(invoke("inspect", missing), str(missing), "no such file")


@pytest.mark.parametrize("where", [0.3, 0.5, 0.9])
def test_inspect_a_corrupt_file_leaves_it_untouched(demo_run, tmp_path, where):
    out, _ = demo_run
    corrupt = tmp_path / "corrupt.snap"
    data = bytearray((out / "model.snap").read_bytes())
    data[int(len(data) * where)] ^= 0x01
    corrupt.write_bytes(bytes(data))
    stat = corrupt.stat()

    assert_one_line_error(invoke("inspect", corrupt), str(corrupt))

    assert corrupt.read_bytes() == bytes(data)
    assert corrupt.stat().st_mtime_ns == stat.st_mtime_ns
    assert [p.name for p in tmp_path.iterdir()] == ["corrupt.snap"]


def bad_target(tmp_path: Path) -> Path:
    """The emulator target with `max_neurons` misspelt in [devices.ref]."""
    text = (SHIPPED_TARGETS_DIR / "emulator.toml").read_text()
    bad = text.replace('kind = "reference"', 'kind = "reference"\nmax_nerons = 64')
    assert bad != text
    path = tmp_path / "targets" / "bad.toml"
    path.parent.mkdir()
    path.write_text(bad)
    return path


def test_a_target_with_a_misspelt_key(tmp_path):
    path = bad_target(tmp_path)
    out = tmp_path / "out"
    result = invoke("demo", "--tiny", "--out", out, "--target", path)
    assert_one_line_error(result, str(path), "'max_nerons'", "'max_neurons'")
    assert not out.exists()


def test_a_target_error_keeps_the_section_it_names(tmp_path):
    """Rich markup swallows '[devices.ref]' from the message, so the user cannot see where."""
    result = invoke("demo", "--tiny", "--out", tmp_path / "out", "--target", bad_target(tmp_path))
    assert_one_line_error(result, "[devices.ref]")


def test_an_error_naming_a_path_with_brackets_is_printed_as_is(tmp_path):
    missing = tmp_path / "[/]model.snap"
    assert_one_line_error(invoke("inspect", missing), str(missing))


def test_a_missing_target_name(tmp_path):
    out = tmp_path / "out"
    result = invoke("demo", "--tiny", "--out", out, "--target", "emulatr")
    line = assert_one_line_error(result, "emulatr", "did you mean 'emulator'?")
    assert "spinn-5" in line  # the shipped targets are listed
    assert not out.exists()


def test_a_backend_kind_the_target_lacks(tmp_path):
    result = invoke(
        "demo",
        "--tiny",
        "--epochs",
        "1",
        "--out",
        tmp_path / "out",
        "--target",
        "spinn-3",
        "--backend",
        "lava",
    )
    assert_one_line_error(result, "'spinn-3'", "'lava'", "spinnaker")


def test_a_failing_demo_leaves_an_earlier_output_as_it_was(demo_run, tmp_path):
    """A failed run must not mix a new model.snap into an older run's build and report."""
    earlier, _ = demo_run
    out = tmp_path / "out"
    for path in earlier.rglob("*"):
        copy = out / path.relative_to(earlier)
        if path.is_dir():
            copy.mkdir(parents=True, exist_ok=True)
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(path.read_bytes())
    before = snapshot(out)
    result = invoke(
        "demo",
        "--tiny",
        "--epochs",
        "1",
        "--steps",
        "3",
        "--out",
        out,
        "--target",
        "spinn-3",
        "--backend",
        "lava",
    )
    assert result.exit_code == 1
    assert snapshot(out) == before


def test_debug_lets_the_error_propagate(tmp_path):
    missing = tmp_path / "model.snap"
    with pytest.raises(ArtifactError, match="no such file"):
        invoke("--debug", "inspect", missing, catch_exceptions=False)
    result = invoke("--debug", "demo", "--tiny", "--out", tmp_path / "out", "--target", "emulatr")
    assert isinstance(result.exception, TargetError)
    assert result.exc_info is not None and result.exc_info[2] is not None
    # the flag does not stick to later invocations
    assert_one_line_error(invoke("inspect", missing), str(missing))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", "from snapdeploy.cli import app; app()", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_in_a_real_process_debug_shows_the_traceback_and_the_default_does_not(tmp_path):
    missing = str(tmp_path / "model.snap")
    plain = run_cli("inspect", missing)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr
    (line,) = plain.stderr.strip().splitlines()
    assert line.startswith(f"error: {missing}: no such file")

    debug = run_cli("--debug", "inspect", missing)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "ArtifactError" in debug.stderr


def test_our_errors_all_derive_from_the_base_the_cli_catches():
    assert issubclass(ArtifactError, SnapdeployError)
    assert issubclass(TargetError, SnapdeployError)
