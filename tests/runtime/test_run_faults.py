"""In one process: a corrupted frame is refused naming its link, a failing device stops the run
with its batch and step, and `resume` finishes the run directory with identical outputs."""

from __future__ import annotations

import numpy as np
import pytest

from snapdeploy.compile import compile_graph
from snapdeploy.core.errors import BackendError, SnapdeployError
from snapdeploy.quant.export import export_model
from snapdeploy.runtime import Deployment
from snapdeploy.runtime.errors import CorruptFrameError, LinkFailure
from snapdeploy.runtime.links import QueueLink
from snapdeploy.runtime.state import FINAL_FILE, OUTPUTS_DIR
from snapdeploy.targets import load_target
from tests.models import hybrid_net

T = 3


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    model = hybrid_net([8, 5], T, n_in=6, n_out=2, seed=4, threshold=0.3, vth=0.2)
    build, _ = compile_graph(
        export_model(model), load_target("emulator"), tmp_path_factory.mktemp("f") / "build"
    )
    return build


X = np.random.default_rng(5).random((20, 6)).astype(np.float32)


@pytest.mark.parametrize("boundary", [0, 1])
def test_a_corrupted_frame_is_refused_naming_its_link(build, monkeypatch, boundary):
    send = QueueLink.send

    def corrupting(self, frame):
        if self.name.startswith(f"boundary {boundary} "):
            frame = bytearray(frame)
            frame[-1 if len(frame) > 25 else 5] ^= 0x10
            frame = bytes(frame)
        send(self, frame)

    monkeypatch.setattr(QueueLink, "send", corrupting)
    with Deployment.load(build) as deployment, pytest.raises(CorruptFrameError) as error:
        deployment.run(X, batch_size=5, progress=False, timeout=5)
    message = str(error.value)
    link = ["host p0_dense -> ref p1_spiking", "ref p1_spiking -> host p2_dense"][boundary]
    assert f"boundary {boundary} ({link})" in message
    assert "not used" in message and "batch 0" in message


class FailsAt:
    """An executor that raises on its n-th run call, like a device that drops out."""

    def __init__(self, inner, calls: int):
        self.inner, self.left = inner, calls

    def run(self, inputs):
        self.left -= 1
        if self.left < 0:
            raise BackendError("device 'ref' stopped answering")
        return self.inner.run(inputs)

    def reset(self):
        self.inner.reset()

    def close(self):
        self.inner.close()


def test_a_failing_device_stops_the_run_and_resume_finishes_it(build, tmp_path):
    with Deployment.load(build) as deployment:
        expected = deployment.run(X, batch_size=4, progress=False).outputs
        executors = deployment.executors
        deployment.executors = [executors[0], FailsAt(executors[1], 2 * T), executors[2]]
        with pytest.raises(BackendError) as error:
            deployment.run(X, batch_size=4, progress=False, run_dir=tmp_path, timeout=5)
        message = str(error.value)
        assert "device 'ref' (p1_spiking) was at batch 2, step 0" in message
        assert "last batch it completed: batch 1" in message
        assert sorted(p.name for p in (tmp_path / OUTPUTS_DIR).iterdir()) == [
            "batch_000000.npy",
            "batch_000001.npy",
        ]
        assert not (tmp_path / FINAL_FILE).exists()

        deployment.executors = executors
        resumed = deployment.run(X, batch_size=4, progress=False, run_dir=tmp_path, resume=True)
    np.testing.assert_array_equal(resumed.outputs, expected)
    np.testing.assert_array_equal(np.load(tmp_path / FINAL_FILE), expected)
    assert resumed.boundaries[0].samples == len(X) - 8


def test_resume_refuses_a_different_run(build, tmp_path):
    with Deployment.load(build) as deployment:
        deployment.run(X, batch_size=4, progress=False, run_dir=tmp_path)
        with pytest.raises(SnapdeployError, match="batch_size"):
            deployment.run(X, batch_size=5, progress=False, run_dir=tmp_path, resume=True)
        with pytest.raises(SnapdeployError, match="nothing to resume"):
            deployment.run(X, progress=False, run_dir=tmp_path / "new", resume=True)


def test_a_silent_link_is_a_named_timeout():
    link = QueueLink("boundary 7 (a -> b)")
    with pytest.raises(LinkFailure, match=r"boundary 7 \(a -> b\): nothing arrived within 0.01 s"):
        link.recv(timeout=0.01)
    link.abort()
    with pytest.raises(LinkFailure, match="the sending stage failed"):
        link.recv(timeout=1)
