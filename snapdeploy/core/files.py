"""Writing files so that a crash never leaves half of one: temp file, fsync, rename."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one step; an old file survives any failure untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)  # a no-op once os.replace has moved it into place


def cpu_flags() -> str:
    """This CPU's feature flags: part of a build cache key wherever -march=native is used."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return os.uname().machine


def compile_atomically(command: list[str], target: Path) -> subprocess.CompletedProcess[str]:
    """Run a compiler `command` with `-o` a temp file beside `target`, renamed on success.

    A failed or killed build leaves no library behind; the caller reads the result's
    returncode and stderr to raise its own named error.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    os.close(handle)
    try:
        result = subprocess.run(
            [*command, "-o", temp_name], capture_output=True, text=True, check=False
        )
        if result.returncode == 0:
            os.replace(temp_name, target)
        return result
    finally:
        Path(temp_name).unlink(missing_ok=True)
