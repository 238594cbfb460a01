"""What `snapdeploy report DIR` reads: a run directory, a demo output, or a bare build.

- a run directory (`snapdeploy run -o DIR`): run.json names the build, result.json holds the
  boundary counts of the run;
- a demo output (`snapdeploy demo --out DIR`): report.json with the measured boundaries and
  accuracies, and the build in DIR/build;
- a build directory: nothing has run, so every boundary reports zero samples and the report
  prices only what the build fixes (compute per sample, dense activations on the links).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snapdeploy.compile import BUILD_FILE, build_target
from snapdeploy.core.errors import SnapdeployError
from snapdeploy.report.summary import REPORT_FILE, stats_from_record
from snapdeploy.runtime import BoundaryStats
from snapdeploy.runtime.state import RESULT_FILE, RUN_FILE
from snapdeploy.targets import Target


@dataclass
class Source:
    """A directory to report on, its build, and what was measured in it."""

    directory: Path
    kind: str  # "run", "demo" or "build"
    build_dir: Path
    stats: list[BoundaryStats]
    previous: dict[str, Any] = field(default_factory=dict)  # a demo's report.json

    def target(self) -> Target:
        return build_target(self.build_dir)


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SnapdeployError(
            f"{path} cannot be read as JSON ({error}); fix: rerun what wrote it"
        ) from None


def read_source(directory: Path) -> Source:
    """Recognize `directory` by the files in it."""
    directory = Path(directory)
    if (directory / RUN_FILE).is_file():
        if not (directory / RESULT_FILE).is_file():
            raise SnapdeployError(
                f"{directory} holds an unfinished run (no {RESULT_FILE}); fix: finish it with "
                f"`snapdeploy run BUILD --out {directory} --resume`"
            )
        build = Path(read_json(directory / RUN_FILE)["build"])
        records = read_json(directory / RESULT_FILE)["boundaries"]
        return Source(directory, "run", build, [stats_from_record(r) for r in records])
    if (directory / REPORT_FILE).is_file() and (directory / "build" / BUILD_FILE).is_file():
        previous = read_json(directory / REPORT_FILE)
        stats = [stats_from_record(r) for r in previous.get("boundaries", [])]
        return Source(directory, "demo", directory / "build", stats, previous)
    if (directory / BUILD_FILE).is_file():
        return Source(directory, "build", directory, [])
    raise SnapdeployError(
        f"{directory} is not a build, run or demo directory (no {BUILD_FILE}, {RUN_FILE} or "
        f"{REPORT_FILE} + build/); fix: pass the --out of `snapdeploy compile`, `run` or `demo`"
    )
