"""Install lava-nc 0.10.0 on Python 3.11, patching its wheel in two places.

Why: lava-nc 0.10.0 declares `Requires-Python: >=3.10,<3.11`, so pip refuses it on 3.11,
and once forced in it fails at import: `lava/magma/compiler/var_model.py` has eight dataclass
fields `x: ByteEncoder = ByteEncoder()` (in CoreEncoder, ChipEncoder, AxonEncoder), a mutable
default that Python 3.11 rejects ("mutable default ... use default_factory"). This script
downloads the released wheel, rewrites those eight fields to
`field(default_factory=ByteEncoder)`, drops the `<3.11` bound from METADATA, updates RECORD,
and installs the result. Its dependencies come from the wheel's own Requires-Dist (asteval,
networkx<=2.8.7, numpy<2, scipy, scikit-learn), resolved under constraints.txt so the pinned
torch is never replaced. Nothing of Lava's source is kept in this repository.

Run as `.venv/bin/python tools/install_lava.py` (the Makefile does, after the package and its
extras); it returns at once when lava 0.10.0 already imports in this interpreter and every
one of its Requires-Dist is still met (a later install may have moved networkx, say).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.metadata
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

LAVA_VERSION = "0.10.0"
WHEEL_NAME = f"lava_nc-{LAVA_VERSION}-py3-none-any.whl"
DIST_INFO = f"lava_nc-{LAVA_VERSION}.dist-info"
VAR_MODEL = "lava/magma/compiler/var_model.py"
METADATA = f"{DIST_INFO}/METADATA"
RECORD = f"{DIST_INFO}/RECORD"
CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"

ENCODER_FIELD = re.compile(r"^(\s+\w+: ByteEncoder) = ByteEncoder\(\)$", re.MULTILINE)
ENCODER_FIELDS_EXPECTED = 8
DATACLASSES_IMPORT = re.compile(r"^from dataclasses import (.+)$", re.MULTILINE)
REQUIRES_PYTHON = re.compile(r"^Requires-Python: .*$", re.MULTILINE)
PATCHED_REQUIRES_PYTHON = "Requires-Python: >=3.10"


class PatchError(RuntimeError):
    """The wheel is not the one this patch was written for."""


def lava_ready() -> bool:
    """True when lava-nc 0.10.0 is installed, its patched module imports, its deps are met."""
    try:
        if importlib.metadata.version("lava-nc") != LAVA_VERSION:
            return False
        importlib.import_module("lava.magma.compiler.var_model")
        importlib.import_module("lava.magma.core.run_configs")
        return requirements_met("lava-nc")
    except (ImportError, ValueError):  # ValueError: the unpatched dataclass defaults on 3.11
        return False


def requirements_met(dist: str) -> bool:
    """Every Requires-Dist of `dist` installed at an allowed version."""
    from packaging.requirements import Requirement  # installed with lava below, if missing

    for line in importlib.metadata.requires(dist) or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            installed = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            return False
        if not req.specifier.contains(installed, prereleases=True):
            return False
    return True


def pip(*args: str) -> None:
    """Run pip in this interpreter under the project's constraints; stop on failure."""
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def patch_var_model(source: str) -> str:
    """Give the eight ByteEncoder fields a default_factory and import `field`."""
    patched, count = ENCODER_FIELD.subn(r"\1 = field(default_factory=ByteEncoder)", source)
    if count != ENCODER_FIELDS_EXPECTED:
        raise PatchError(
            f"{VAR_MODEL}: expected {ENCODER_FIELDS_EXPECTED} fields "
            f"'x: ByteEncoder = ByteEncoder()', found {count}; this is not lava-nc "
            f"{LAVA_VERSION} as released, so the patch would be wrong"
        )
    match = DATACLASSES_IMPORT.search(patched)
    if match is None:
        raise PatchError(f"{VAR_MODEL}: no 'from dataclasses import ...' line to extend")
    names = [n.strip() for n in match.group(1).split(",")]
    if "field" not in names:
        names.append("field")
        patched = DATACLASSES_IMPORT.sub(f"from dataclasses import {', '.join(names)}", patched, 1)
    return patched


def patch_metadata(metadata: str) -> str:
    """Drop the `<3.11` bound, which is the only thing that keeps pip from installing it."""
    patched, count = REQUIRES_PYTHON.subn(PATCHED_REQUIRES_PYTHON, metadata)
    if count != 1:
        raise PatchError(f"{METADATA}: expected one Requires-Python line, found {count}")
    return patched


def record_line(name: str, data: bytes) -> str:
    """A RECORD row: urlsafe base64 sha256 without padding, and the size."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def patch_record(record: str, changed: dict[str, bytes]) -> str:
    """Replace the rows of the changed files with their new hashes and sizes."""
    lines = record.splitlines()
    rows = {line.split(",", 1)[0]: i for i, line in enumerate(lines)}
    for name, data in changed.items():
        if name not in rows:
            raise PatchError(f"{RECORD}: no row for {name}")
        lines[rows[name]] = record_line(name, data)
    return "\n".join(lines) + "\n"


def patch_wheel(src: Path, dst: Path) -> None:
    """Copy the wheel entry by entry, rewriting var_model.py, METADATA and RECORD."""
    with zipfile.ZipFile(src) as zin:
        changed = {
            VAR_MODEL: patch_var_model(zin.read(VAR_MODEL).decode()).encode(),
            METADATA: patch_metadata(zin.read(METADATA).decode()).encode(),
        }
        changed[RECORD] = patch_record(zin.read(RECORD).decode(), changed).encode()
        with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                zout.writestr(info, changed.get(info.filename, zin.read(info.filename)))


def install() -> None:
    """Download, patch and install the wheel; pip resolves its Requires-Dist on 3.11."""
    with tempfile.TemporaryDirectory(prefix="lava-wheel-") as tmp:
        tmp_path = Path(tmp)
        download = tmp_path / "download"
        pip(
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--ignore-requires-python",
            f"lava-nc=={LAVA_VERSION}",
            "-d",
            str(download),
        )
        patched = tmp_path / WHEEL_NAME
        patch_wheel(download / WHEEL_NAME, patched)
        pip("install", "--no-deps", "--force-reinstall", str(patched))
        pip("install", "-c", str(CONSTRAINTS), str(patched), "packaging")


def main() -> int:
    if lava_ready():
        print(f"lava-nc {LAVA_VERSION} already installed and importable")
        return 0
    try:
        install()
    except PatchError as exc:
        print(f"install_lava: cannot patch lava-nc: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"install_lava: pip failed ({exc}); see its output above", file=sys.stderr)
        return 1
    importlib.invalidate_caches()
    if not lava_ready():
        print("install_lava: lava-nc installed but does not import; see above", file=sys.stderr)
        return 1
    print(f"lava-nc {LAVA_VERSION} installed (patched for Python 3.11)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
