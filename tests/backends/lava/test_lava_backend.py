"""What only the Lava backend has (the contract every backend keeps, real-Lava fixtures and
random networks included, is tested in test_conformance.py): Lava's own weight normalization
left harmless, every batch item swapped in and out of one graph. Also: the network file loads as a plain Lava graph, Lava's processes never outlive the
executor (close, Ctrl-C), and what Lava cannot run is refused with a clear error."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.util
import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from lava.magma.compiler import var_model
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.sink import RingBuffer as SinkBuffer
from lava.proc.io.source import RingBuffer as SourceBuffer
from lava.proc.lif.models import PyLifModelBitAcc

from snapdeploy.backends import get_backend
from snapdeploy.backends.lava import lava_module
from snapdeploy.backends.lava.executor import LavaExecutor
from snapdeploy.backends.lava.network import LavaNetwork
from snapdeploy.backends.lava.processes import build_network
from snapdeploy.core.errors import BackendError
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.partition import SpikingPartition
from snapdeploy.targets import LavaDevice
from tests.models import (
    assert_states_equal,
    spiking_partition,
)

DEVICE = LavaDevice(name="loihi")


def load_executor(partition: SpikingPartition, out: Path) -> LavaExecutor:
    backend = get_backend("lava")
    return backend.load(backend.compile(partition, DEVICE, out))


def lava_children() -> set[multiprocessing.Process]:
    """This process's children, less multiprocessing's own resource tracker."""
    return set(multiprocessing.active_children())


def test_all_negative_weights_keep_minus_256(tmp_path: Path) -> None:
    """Dense left alone would call this matrix inhibitory and clip -256 to -255."""
    layer = LifLayerParams(
        weights=np.full((3, 4), -256),
        weight_exp=7,
        du=0,
        dv=0,
        vth=0,
        bias_mant=np.array([4095, 4095, 4095]),
        bias_exp=7,
    )
    spikes = np.ones((6, 1, 4), dtype=bool)
    reference = ReferenceNetwork([layer])
    want = reference.run(spikes)[0]
    with load_executor(spiking_partition([layer]), tmp_path) as executor:
        np.testing.assert_array_equal(executor.run(spikes), want)
        assert_states_equal(executor, reference)


def test_reset_starts_every_item_from_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    layer = LifLayerParams(
        weights=2 * rng.integers(-128, 128, (5, 6)),
        weight_exp=1,
        du=300,
        dv=100,
        vth=40,
        bias_mant=rng.integers(0, 50, 5),
        bias_exp=2,
    )
    spikes = rng.random((8, 2, 6)) < 0.5
    want = ReferenceNetwork([layer]).run(spikes)[0]
    with load_executor(spiking_partition([layer]), tmp_path) as executor:
        executor.run(spikes)
        executor.reset()
        np.testing.assert_array_equal(executor.run(spikes), want)


def test_a_compiled_partition_rebuilds_as_plain_lava(tmp_path: Path) -> None:
    """What a Lava user does with a compiled partition: build its processes from the saved
    arrays (the build holds no pickle), connect a source and a sink, run."""
    rng = np.random.default_rng(3)
    layers = [
        LifLayerParams(
            2 * rng.integers(-128, 128, (7, 5)), 2, 50, 500, 30, rng.integers(-9, 9, 7), 3
        ),
        LifLayerParams(2 * rng.integers(-128, 128, (4, 7)), 0, 0, 2000, 10, np.zeros(4, int), 0),
    ]
    spikes = rng.random((12, 1, 5)) < 0.6
    compiled = get_backend("lava").compile(spiking_partition(layers), DEVICE, tmp_path)
    saved = SpikingPartition.load(compiled.path, compiled.partition, compiled.meta["index"])
    chain = build_network([op.name for op in saved.ops], saved.layers)
    source = SourceBuffer(data=spikes[:, 0].T.astype(np.int32))
    sink = SinkBuffer(shape=(4,), buffer=len(spikes))
    source.s_out.connect(chain[0].synapse.s_in)
    chain[-1].lif.s_out.connect(sink.a_in)
    try:
        source.run(
            condition=RunSteps(num_steps=len(spikes)), run_cfg=Loihi2SimCfg(select_tag="fixed_pt")
        )
        got = sink.data.get().T.astype(bool)
    finally:
        source.stop()
    np.testing.assert_array_equal(got, ReferenceNetwork(layers).run(spikes)[0][:, 0])


def test_close_leaves_no_lava_process(tmp_path: Path) -> None:
    layer = LifLayerParams(np.full((2, 2), 2), 0, 0, 0, 0, np.zeros(2, int), 0)
    before = lava_children()
    executor = load_executor(spiking_partition([layer]), tmp_path)
    executor.run(np.ones((3, 2, 2), dtype=bool))
    assert lava_children() - before, "Lava should run in child processes"
    executor.close()
    assert not lava_children() - before
    with pytest.raises(BackendError, match="closed"):
        executor.run(np.ones((3, 2, 2), dtype=bool))


def test_ctrl_c_stops_lava_and_needs_reset(tmp_path: Path) -> None:
    """SIGINT in the middle of a long run: the processes stop, the state is declared lost."""
    layer = LifLayerParams(np.full((50, 50), 2), 0, 100, 100, 5, np.zeros(50, int), 0)
    spikes = np.ones((20000, 1, 50), dtype=bool)
    before = lava_children()
    executor = load_executor(spiking_partition([layer]), tmp_path)
    executor.progress = False
    executor.run(spikes[:2])  # runtime up, so the signal lands mid-run
    # Ctrl-C every 0.5 s until the run ends (one once failed to land on a loaded machine);
    # only the first raises, so a late one cannot hit the teardown.
    interrupted: list[int] = []

    def first_raises(signum: int, frame: object) -> None:
        interrupted.append(signum)
        if len(interrupted) == 1:
            raise KeyboardInterrupt

    stopped = threading.Event()

    def interrupt() -> None:
        while not stopped.wait(0.5):
            os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, first_raises)
    sender = threading.Thread(target=interrupt, daemon=True)
    try:
        sender.start()
        with pytest.raises(KeyboardInterrupt):
            executor.run(spikes)
    finally:
        stopped.set()
        sender.join()
        signal.signal(signal.SIGINT, previous)
    assert not lava_children() - before
    with pytest.raises(BackendError, match="reset"):
        executor.run(spikes[:3])
    executor.reset()
    with executor:
        np.testing.assert_array_equal(
            executor.run(spikes[:3]), ReferenceNetwork([layer]).run(spikes[:3])[0]
        )


def test_a_failing_lava_process_is_reported_and_all_are_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lava 0.10 itself would wait forever for a process model that raised."""

    def run_spk(model: PyLifModelBitAcc) -> None:
        raise ValueError("model failed on purpose")

    monkeypatch.setattr(PyLifModelBitAcc, "run_spk", run_spk)  # forked processes inherit it
    layer = LifLayerParams(np.full((2, 2), 2), 0, 0, 0, 0, np.zeros(2, int), 0)
    before = lava_children()
    with load_executor(spiking_partition([layer]), tmp_path) as executor:
        with pytest.raises(BackendError, match="Lava process died.*model failed on purpose"):
            executor.run(np.ones((4, 1, 2), dtype=bool))
        assert not lava_children() - before


@pytest.mark.parametrize(
    ("change", "message"),
    [({"run_config": "hw"}, "only its CPU simulator"), ({"select_tag": "floating_pt"}, "fixed_pt")],
)
def test_device_settings_lava_cannot_run_are_refused(change, message, tmp_path: Path) -> None:
    layer = LifLayerParams(np.zeros((2, 2), int), 0, 0, 0, 10, np.zeros(2, int), 0)
    with pytest.raises(BackendError, match=message):
        get_backend("lava").compile(
            spiking_partition([layer]), dataclasses.replace(DEVICE, **change), tmp_path
        )


def test_missing_lava_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapdeploy.backends.lava.processes", None)
    with pytest.raises(BackendError, match=r"make install.*install_lava\.py"):
        lava_module("processes")


def test_runtime_that_cannot_start_names_the_cause() -> None:
    layer = LifLayerParams(np.zeros((2, 2), int), 0, 0, 0, 10, np.zeros(2, int), 0)
    network = LavaNetwork(build_network(["layer0"], [layer]), select_tag="no_such_tag")
    with pytest.raises(BackendError, match="failed to start: AssertionError: .*no_such_tag"):
        network.start()


def install_tool():
    """tools/install_lava.py as a module (tools/ is not a package)."""
    path = Path(__file__).parents[3] / "tools" / "install_lava.py"
    spec = importlib.util.spec_from_file_location("install_lava", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_installed_lava_is_the_patched_wheel() -> None:
    source = Path(var_model.__file__).read_text()
    assert source.count("= field(default_factory=ByteEncoder)") == 8
    assert "= ByteEncoder()" not in source


def test_install_patch_refuses_a_wheel_it_was_not_written_for() -> None:
    tool = install_tool()
    fields = "".join(f"    f{i}: ByteEncoder = ByteEncoder()\n" for i in range(8))
    source = f"from dataclasses import dataclass, InitVar\n{fields}"
    patched = tool.patch_var_model(source)
    assert "from dataclasses import dataclass, InitVar, field\n" in patched
    assert patched.count("= field(default_factory=ByteEncoder)") == 8
    with pytest.raises(tool.PatchError, match="expected 8 fields.*found 7"):
        tool.patch_var_model(source.replace("    f7: ByteEncoder = ByteEncoder()\n", ""))
    with pytest.raises(tool.PatchError, match="found 0"):
        tool.patch_var_model(patched)


def test_install_patch_rewrites_record_hashes() -> None:
    tool = install_tool()
    record = "a.py,sha256=old,3\nb.py,sha256=keep,5\nRECORD,,\n"
    new = tool.patch_record(record, {"a.py": b"print(1)\n"})
    digest = base64.urlsafe_b64encode(hashlib.sha256(b"print(1)\n").digest()).rstrip(b"=")
    assert new.splitlines() == [
        f"a.py,sha256={digest.decode()},9",
        "b.py,sha256=keep,5",
        "RECORD,,",
    ]
    assert tool.patch_metadata("Name: x\nRequires-Python: >=3.10,<3.11\n").endswith(
        "Requires-Python: >=3.10\n"
    )
