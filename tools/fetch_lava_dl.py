"""Put lava-dl 0.6.0's source on this interpreter's path, as the netx tests' outside oracle.

Why: lava-dl's own `netx.hdf5.Network` building our netx export is the check that our files
are what lava-dl writes, but lava-dl 0.6.0 declares `Requires-Python <3.11` and pulls CUDA
builds of torchvision, so it cannot be pip-installed here. Its netx reader needs neither:
this script downloads the released wheel (pinned by its sha256), extracts `lava/lib/dl/`
(without slayer's pretrained object-detection models, which nothing here loads) into
`<prefix>/lava-dl-0.6.0/` and adds that directory to the path with a `.pth` file, where the
namespace package `lava` (installed by tools/install_lava.py) picks it up. Nothing of
lava-dl's is kept in this repository; uninstalling is deleting those two paths.

Run as `.venv/bin/python tools/fetch_lava_dl.py` (the Makefile does, after install_lava.py);
it returns at once when `lava.lib.dl.netx` is already found.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

from install_lava import pip  # tools/ is this script's sys.path[0]

VERSION = "0.6.0"
WHEEL = f"lava_dl-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "bcb448f2bb85dc0da4b4dbbbae16543d2a978c1da7279acc522ad621fc68c437"
PACKAGE = "lava/lib/dl/"
SKIPPED_SUFFIXES = (".pt",)
TARGET = Path(sys.prefix) / f"lava-dl-{VERSION}"
PTH = Path(sysconfig.get_paths()["purelib"]) / "lava_dl_source.pth"


def netx_found() -> bool:
    try:
        return importlib.util.find_spec("lava.lib.dl.netx") is not None
    except ModuleNotFoundError:
        return False


def download(into: Path) -> Path:
    """The released wheel, checked against the pinned sha256."""
    pip(
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.10",
        f"lava-dl=={VERSION}",
        "-d",
        str(into),
    )
    wheel = into / WHEEL
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(
            f"{WHEEL} has sha256 {digest}, not the released {WHEEL_SHA256}; the download was "
            f"altered or PyPI serves another file; fix: retry, and report it if it persists"
        )
    return wheel


def extract(wheel: Path) -> None:
    """lava/lib/dl/ into TARGET, written beside it first so a failure leaves nothing half-made."""
    staging = TARGET.with_name(TARGET.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        members = [
            name
            for name in archive.namelist()
            if name.startswith(PACKAGE) and not name.endswith(SKIPPED_SUFFIXES)
        ]
        archive.extractall(staging, members)
    shutil.rmtree(TARGET, ignore_errors=True)
    staging.rename(TARGET)
    PTH.write_text(f"{TARGET}\n")


def main() -> int:
    if netx_found():
        print(f"lava-dl's netx already importable ({PTH.name})")
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="lava-dl-wheel-") as tmp:
            extract(download(Path(tmp)))
    except (subprocess.CalledProcessError, RuntimeError) as exc:
        print(f"fetch_lava_dl: {exc}", file=sys.stderr)
        return 1
    importlib.invalidate_caches()
    sys.path.append(str(TARGET))
    if not netx_found():
        print(
            f"fetch_lava_dl: extracted into {TARGET}, but lava.lib.dl.netx is not found; "
            f"is lava-nc installed (tools/install_lava.py)?",
            file=sys.stderr,
        )
        return 1
    print(f"lava-dl {VERSION}'s source in {TARGET}, on the path through {PTH.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
