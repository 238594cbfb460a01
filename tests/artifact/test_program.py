"""torch.export programs in a .snap: exact round trip, hash-verified, and never unpickled."""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save as save_safetensors

from snapdeploy.artifact import TENSORS_ENTRY, read_artifact, write_artifact
from snapdeploy.artifact.program import (
    export_program,
    load_programs,
    program_tensors,
    save_programs,
)
from snapdeploy.core.errors import ArtifactError, UnsupportedLayerError
from snapdeploy.nn import snap_cut
from tests.cut_models import tiny_gpt, tiny_resnet

STAMP_PREFIX = b"snapdeploy-sha256:"


@pytest.fixture(scope="module")
def dies() -> dict:
    """A cut GPT's first die and a residual CNN with BatchNorm, with inputs."""
    torch.manual_seed(0)
    tokens = torch.randint(0, 32, (3, 8))
    net = snap_cut(tiny_gpt(), cuts=["block1"], steps=4, example=tokens)
    images = torch.randn(4, 1, 12, 12)
    resnet = tiny_resnet()
    resnet(images)  # running statistics move off their initial values
    return {"gpt0": (net.dies[0], tokens), "resnet": (resnet, images)}


@pytest.fixture
def snap(tmp_path: Path, dies: dict) -> Path:
    programs = {name: export_program(m, (x,)) for name, (m, x) in dies.items()}
    return save_programs(tmp_path / "dies.snap", programs, {"note": "test"})


def refuse_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def unpickle(*args, **kwargs):
        raise AssertionError("loading a .snap tried to unpickle")

    for owner, name in [
        (torch, "load"),
        (torch.serialization, "load"),
        (pickle, "load"),
        (pickle, "loads"),
        (pickle, "Unpickler"),
    ]:
        monkeypatch.setattr(owner, name, unpickle)


def test_round_trip_is_exact_and_unpickles_nothing(snap, dies, monkeypatch):
    refuse_unpickling(monkeypatch)
    loaded = load_programs(snap)
    assert sorted(loaded) == ["gpt0", "resnet"]
    for name, (module, x) in dies.items():
        module.eval()
        with torch.no_grad():
            assert torch.equal(loaded[name].module()(x), module(x)), name
    stored = read_artifact(snap).tensors
    bn = stored["program.resnet.buffer.stem.1.running_mean"]
    assert np.array_equal(bn, dies["resnet"][0].stem[1].running_mean.numpy())
    assert stored["program.resnet.buffer.stem.1.num_batches_tracked"].dtype == np.int64


def with_tensors(path: Path, change: dict[str, np.ndarray]) -> None:
    """Replace stored tensors but keep the manifest (and its hashes), restamping the file."""
    tensors = read_artifact(path).tensors | change
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
        stamp_length = len(archive.comment)
    entries[TENSORS_ENTRY] = save_safetensors(tensors)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in entries.items():
            archive.writestr(name, payload)
        archive.comment = bytes(stamp_length)
    body = buffer.getvalue()[:-stamp_length]
    path.write_bytes(body + STAMP_PREFIX + hashlib.sha256(body).hexdigest().encode())


def test_tampered_program_entry_is_refused_by_name(snap):
    graph = read_artifact(snap).tensors["program.gpt0.graph"].copy()
    text = graph.tobytes().replace(b"aten.add.Tensor", b"aten.sub.Tensor", 1)
    assert text != graph.tobytes()
    with_tensors(snap, {"program.gpt0.graph": np.frombuffer(text, np.uint8).copy()})
    with pytest.raises(ArtifactError, match=r"tensor 'program\.gpt0\.graph' fails its sha256"):
        load_programs(snap)


def test_tampered_weight_is_refused_by_name(snap):
    key = "program.resnet.param.head.2.weight"
    with_tensors(snap, {key: read_artifact(snap).tensors[key] + 1})
    with pytest.raises(ArtifactError, match=rf"tensor '{key}' fails its sha256"):
        load_programs(snap)


class WritesAFile:
    """Unpickling this opens (creates) a file: any unpickle of a program would show it."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


@pytest.mark.parametrize("packing", ["pickle", "torch.save"])
def test_program_entry_carrying_a_pickle_is_refused_with_nothing_written(tmp_path, packing):
    marker = tmp_path / "pwned"
    payload_obj = {"exported_program": WritesAFile(marker)}
    if packing == "pickle":
        payload = pickle.dumps(payload_obj)
    else:
        buffer = io.BytesIO()
        torch.save(payload_obj, buffer)
        payload = buffer.getvalue()
    path = tmp_path / "evil.snap"
    # hashes and stamp are valid: only the content of the program entry is hostile
    write_artifact(
        path, {"programs": ["die0"]}, {"program.die0.graph": np.frombuffer(payload, np.uint8)}
    )
    with pytest.raises(
        ArtifactError, match=r"program .die0. \(entries program\.die0\.\*\).*not torch.export"
    ):
        load_programs(path)
    assert not marker.exists()
    # the payload is live: unpickling it (as torch.export.load's fallback would) writes the file
    if packing == "pickle":
        live = pickle.loads(payload)
    else:
        live = torch.load(io.BytesIO(payload), weights_only=False)
    live["exported_program"].close()
    assert marker.exists()


def test_manifest_must_list_the_stored_programs(tmp_path, dies):
    module, x = dies["gpt0"]
    tensors = program_tensors("gpt0", export_program(module, (x,)))
    path = write_artifact(tmp_path / "m.snap", {"programs": ["other"]}, tensors)
    with pytest.raises(ArtifactError, match=r"'programs' \['other'\].*\['gpt0'\]"):
        load_programs(path)


def test_bfloat16_die_is_refused_at_export():
    module = torch.nn.Linear(2, 2).to(torch.bfloat16)
    program = export_program(module, (torch.zeros(1, 2, dtype=torch.bfloat16),))
    with pytest.raises(UnsupportedLayerError, match="bfloat16.*float32"):
        program_tensors("d", program)
