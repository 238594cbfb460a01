"""Builds the C-simulation library with g++, once per distinct source: cached by content hash.

The hash covers every source file's name and bytes, the compiler command and the compiler's
version, so an identical partition (or a rerun) reuses the library and any change rebuilds.
The cache lives in core.native's cache directory (default ~/.cache/snapdeploy)/hls/<hash>/;
$SNAPDEPLOY_CXX names another compiler.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from snapdeploy.backends.fpga.sources import source_hash
from snapdeploy.core.errors import BackendError
from snapdeploy.core.files import compile_atomically, cpu_flags
from snapdeploy.core.native import cache_dir, compiler

#: -O3 -march=native: the C-sim runs on the machine that builds it (the cache key holds this
#: CPU's flags), and wide vectors for the synapse row adds gave 1.3e8 neuron updates/s against
#: 5.2e7 with the portable -O2 -fvect-cost-model=dynamic (tools/bench_hls.py, same machine).
FLAGS = ("-O3", "-march=native", "-std=c++14", "-shared", "-fPIC", "-Wall")
LIBRARY = "liblif_csim.so"


def cache_root() -> Path:
    return cache_dir() / "hls"


@cache
def compiler_path() -> str:
    """$SNAPDEPLOY_CXX or g++; its absence is a clear error, not a traceback."""
    return compiler(
        "the HLS backend's C-simulation", BackendError, "place the partition on another device"
    )


@cache
def compiler_version() -> str:
    result = subprocess.run(
        [compiler_path(), "--version"], capture_output=True, text=True, check=True
    )
    return result.stdout.splitlines()[0]


def library_key(build_hash: str) -> str:
    """The C-sim cache key: the sources plus the flags, the compiler version and this CPU."""
    digest = hashlib.sha256(build_hash.encode())
    for text in (compiler_path(), *FLAGS, compiler_version(), cpu_flags()):
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()


def build_library(sources: list[Path], out: Path) -> tuple[Path, str]:
    """Compile the .cpp files of `sources` into `out`/LIBRARY (from cache when built before)."""
    build_hash = source_hash(sources)
    cached = cache_root() / library_key(build_hash) / LIBRARY
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        compile_to(sources, cached)
    target = out / LIBRARY
    temp = out / f".{LIBRARY}.tmp"
    shutil.copyfile(cached, temp)
    os.replace(temp, target)
    return target, build_hash


def compile_to(sources: list[Path], library: Path) -> None:
    """Run g++ into a temp file and rename it, so a failed or killed build leaves no library."""
    units = [str(path) for path in sources if path.suffix == ".cpp"]
    result = compile_atomically([compiler_path(), *FLAGS, *units], library)
    if result.returncode != 0:
        raise BackendError(
            f"g++ could not build the C-simulation in {sources[0].parent}:\n"
            f"{result.stderr.strip()}\nfix: the generated sources are kept there; "
            f"report this with them"
        )
