"""Graphs and files we cannot import (or models we cannot write) fail with named errors."""

from __future__ import annotations

import h5py
import nir
import numpy as np
import pytest
from torch import nn
from typer.testing import CliRunner

from snapdeploy.cli import app
from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.interop import (
    NirFormatError,
    NirGraphError,
    UnsupportedNirNodeError,
    read_nir,
    to_nir,
)
from snapdeploy.nn import DenseBlock, HybridNet, SpikeEncoder


def lif(n: int, tau=None, **extra) -> nir.LIF:
    tau = np.full(n, 1e-3) if tau is None else tau
    params = {"tau": tau, "r": np.ones(n) * 10, "v_leak": np.zeros(n), "v_threshold": np.ones(n)}
    return nir.LIF(**(params | extra))


def affine(n_out: int, n_in: int) -> nir.Affine:
    return nir.Affine(weight=np.ones((n_out, n_in)), bias=np.zeros(n_out))


def test_unsupported_nodes_are_listed_with_their_nearest():
    graph = nir.NIRGraph.from_list(
        affine(4, 3),
        lif(4),
        nir.Threshold(threshold=np.ones(4)),
        nir.LI(tau=np.ones(4), r=np.ones(4), v_leak=np.zeros(4)),
    )
    with pytest.raises(UnsupportedNirNodeError) as err:
        read_nir(graph, steps=5)
    message = str(err.value)
    assert "'threshold' (Threshold)" in message and "'li' (LI)" in message
    assert "nearest supported is LIF with tau" in message and "I (integrated spikes" in message


def test_recurrent_layer_is_a_cycle():
    inner = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([4])),
            "lif": lif(4),
            "w_rec": nir.Linear(weight=np.eye(4)),
            "output": nir.Output(np.array([4])),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        type_check=False,
    )
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([3])),
            "fc": affine(4, 3),
            "rleaky": inner,
            "output": nir.Output(np.array([4])),
        },
        edges=[("input", "fc"), ("fc", "rleaky"), ("rleaky", "output")],
        type_check=False,
    )
    with pytest.raises(NirGraphError, match=r"cycle rleaky\.lif -> rleaky\.w_rec -> rleaky\.lif"):
        read_nir(graph, steps=5)


def test_branch_is_refused():
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([3])),
            "a": affine(4, 3),
            "b": affine(4, 3),
            "lif": lif(4),
            "output": nir.Output(np.array([4])),
        },
        edges=[("input", "a"), ("input", "b"), ("a", "lif"), ("b", "lif"), ("lif", "output")],
        type_check=False,
    )
    with pytest.raises(NirGraphError, match="'input' feeds 2 nodes"):
        read_nir(graph, steps=5)


def test_malformed_files(tmp_path):
    garbage = tmp_path / "garbage.nir"
    garbage.write_bytes(b"not hdf5 at all")
    with pytest.raises(NirFormatError, match="not a readable NIR graph"):
        read_nir(garbage, steps=5)
    empty = tmp_path / "empty.nir"
    with h5py.File(empty, "w") as f:
        f.create_dataset("version", data="1.0")
    with pytest.raises(NirFormatError, match="empty.nir"):
        read_nir(empty, steps=5)
    with pytest.raises(NirFormatError, match="no such file"):
        read_nir(tmp_path / "missing.nir", steps=5)


def test_parameters_our_lif_cannot_hold():
    spread = nir.NIRGraph.from_list(affine(4, 3), lif(4, tau=np.array([1e-3, 1e-3, 2e-3, 1e-3])))
    with pytest.raises(ParameterRangeError, match="tau ranges over"):
        read_nir(spread, steps=5)
    resets = nir.NIRGraph.from_list(affine(4, 3), lif(4, v_reset=np.full(4, -0.5)))
    with pytest.raises(UnsupportedNirNodeError, match="resets to 0"):
        read_nir(resets, steps=5)
    too_fast = nir.NIRGraph.from_list(affine(4, 3), lif(4, tau=np.full(4, 1e-5)))
    with pytest.raises(ParameterRangeError, match="is --dt right"):
        read_nir(too_fast, steps=5)


def test_writer_names_layers_nir_lacks():
    net = HybridNet(
        DenseBlock(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh()),
        SpikeEncoder(4, 3),
        input_shape=(3,),
        steps=3,
    )
    with pytest.raises(UnsupportedNirNodeError, match=r"'0\.1' \(ReLU\).*'0\.3' \(Tanh\)"):
        to_nir(net)


def test_cli_prints_one_line_and_exits_1(tmp_path):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"\x89HDF")
    result = CliRunner().invoke(app, ["import", str(bad), "-o", str(tmp_path / "m.snap")])
    assert result.exit_code == 1
    assert "not a readable NIR graph" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m.snap").exists()
