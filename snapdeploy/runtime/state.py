"""The resumable state of a run: each completed batch's outputs, written as soon as it is done.

A run directory holds `run.json` (what is being run: build, inputs' digest, batch size) and
`outputs/batch_NNNNNN.npy`, each written atomically, so a run that dies keeps every batch it
completed and `--resume` runs only the rest, refusing a directory of a different run.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.files import atomic_write

RUN_FILE = "run.json"
OUTPUTS_DIR = "outputs"
FINAL_FILE = "outputs.npy"


def batches(samples: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of every batch, in order."""
    return [(start, min(start + batch_size, samples)) for start in range(0, samples, batch_size)]


def describe_run(build_dir: Path, inputs: np.ndarray, batch_size: int) -> dict[str, Any]:
    return {
        "build": str(Path(build_dir).resolve()),
        "inputs_sha256": hashlib.sha256(np.ascontiguousarray(inputs).tobytes()).hexdigest(),
        "samples": len(inputs),
        "batch_size": batch_size,
    }


class RunState:
    """Completed batches of one run, in a directory (resumable) or in memory (`directory=None`)."""

    def __init__(self, directory: Path | None, record: dict[str, Any], resume: bool):
        self.directory = None if directory is None else Path(directory)
        self.record = record
        self._memory: dict[int, np.ndarray] = {}
        if self.directory is not None:
            self._open(resume)

    def _open(self, resume: bool) -> None:
        run_file = self.directory / RUN_FILE
        if resume:
            if not run_file.is_file():
                raise SnapdeployError(
                    f"nothing to resume in {self.directory} (no {RUN_FILE}); fix: run without "
                    f"--resume to start it"
                )
            stored = json.loads(run_file.read_text())
            if stored != self.record:
                changed = sorted(k for k in self.record if stored.get(k) != self.record[k])
                raise SnapdeployError(
                    f"{self.directory} holds a different run ({', '.join(changed)} differ); "
                    f"fix: resume with the same build, inputs and batch size, or use another --out"
                )
            return
        shutil.rmtree(self.directory / OUTPUTS_DIR, ignore_errors=True)
        (self.directory / FINAL_FILE).unlink(missing_ok=True)
        atomic_write(run_file, json.dumps(self.record, indent=2).encode())

    def _path(self, index: int) -> Path:
        return self.directory / OUTPUTS_DIR / f"batch_{index:06d}.npy"

    def done(self, index: int) -> bool:
        return index in self._memory or (self.directory is not None and self._path(index).is_file())

    def save(self, index: int, outputs: np.ndarray) -> None:
        if self.directory is None:
            self._memory[index] = outputs
            return
        buffer = io.BytesIO()
        np.save(buffer, outputs)
        atomic_write(self._path(index), buffer.getvalue())

    def load(self, index: int) -> np.ndarray:
        if self.directory is None:
            return self._memory[index]
        return np.load(self._path(index))

    def completed(self, count: int) -> list[int]:
        return [i for i in range(count) if self.done(i)]

    def finish(self, count: int) -> np.ndarray:
        """All outputs in order; with a directory also written to outputs.npy."""
        outputs = np.concatenate([self.load(i) for i in range(count)])
        if self.directory is not None:
            buffer = io.BytesIO()
            np.save(buffer, outputs)
            atomic_write(self.directory / FINAL_FILE, buffer.getvalue())
        return outputs


RESULT_FILE = "result.json"


def boundary_summary(stats) -> dict[str, Any]:
    """One boundary's measured traffic, per sample, beside what fp16 tensors would cost, with
    its spikes per step and first sample's raster (what a report of the run plots)."""
    samples = max(stats.samples, 1)
    return {
        "id": stats.boundary_id,
        "width": stats.width,
        "values": stats.dense_values,
        "steps": stats.steps,
        "samples": stats.samples,
        "frames": stats.packets,
        "spikes": stats.spikes,
        "spike_rate": stats.spike_rate,
        "wire_bytes": stats.wire_bytes,
        "wire_bytes_per_sample": stats.wire_bytes / samples,
        "fp16_bytes_per_sample": stats.fp16_bytes / samples,
        "fp16_over_spikes": stats.fp16_bytes / stats.wire_bytes if stats.wire_bytes else None,
        "spikes_per_step": [int(v) for v in stats.spikes_per_step],
        "first_sample_raster": (
            None
            if stats.first_sample_raster is None
            else stats.first_sample_raster.astype(int).tolist()
        ),
    }


def write_result(
    directory: Path, stats: list, seconds: dict[str, float], run_seconds: float
) -> Path:
    """result.json of a run: each boundary's traffic in this invocation, time per partition,
    and the wall time of the batch loop (from the first batch to the last output)."""
    path = Path(directory) / RESULT_FILE
    record = {
        "boundaries": [boundary_summary(s) for s in stats],
        "seconds_per_partition": seconds,
        "run_seconds": run_seconds,
    }
    atomic_write(path, json.dumps(record, indent=2).encode())
    return path
