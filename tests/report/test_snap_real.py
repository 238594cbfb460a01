"""tools/snap_real.py's models and measurements at toy size: the corpus is the named stdlib
files' bytes, and one setting's counts are the encodings of the spikes its boundary sends."""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
from pathlib import Path

import pytest
import torch

from snapdeploy.data import FASHION_MNIST
from snapdeploy.report.count_coder import (
    coded_count_bytes,
    decode_coded_counts,
    encode_coded_counts,
)
from snapdeploy.report.counts import flop_macs
from snapdeploy.report.wire import (
    count_message_bytes,
    frame_bytes,
    signed_count_message_bytes,
)

TOOL = Path(__file__).resolve().parents[2] / "tools" / "snap_real.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("snap_real", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def lm(tool):
    torch.manual_seed(0)
    return tool.lm_task(d=16, layers=2, train_bytes=20_000, test_bytes=64 * 8 + 1, steps=2, lr=1e-3)


def test_corpus_is_the_stdlib_files_in_name_order(tool):
    text, info = tool.corpus(50_000)
    root = Path(sysconfig.get_paths()["stdlib"])
    first = min(root.glob("*.py"))
    assert info["bytes"] == len(text) == 50_000 and info["first"] == first.name
    assert text.startswith(first.read_bytes()[:1000])


def test_a_snap_setting_counts_what_its_boundary_sends(tool, lm):
    result = tool.run_setting(lm, tool.Setting("snap", steps=2, sparsity=0.5), 2, 1e-3)
    counts = result["counts"]
    tokens = lm.probe.numel()
    assert counts["fp16"].link_bits == (16 * 16,) and counts["int4"].link_bits == (4 * 16,)
    net = tool.build(lm, tool.Setting("snap", steps=2))  # same pretrained model, untrained cut
    whole, _ = flop_macs(lm.model.eval(), lm.probe)
    assert sum(counts["fp16"].die_macs) == pytest.approx(whole / tokens)
    assert len(net.dies) == 2 and 0 < result["spike_rate"][0] < 1
    assert result["counts"]["frames"].boundary_work[0].neuron_updates == 2 * 32  # T x 2d
    assert lm.cost(3.0, 3.2) == pytest.approx(0.2)


def test_frame_and_count_bits_are_the_encoded_probe(tool, lm):
    net = tool.build(lm, tool.Setting("snap", steps=3)).eval()
    counts, _ = tool.measure_counts(lm, net)
    with torch.no_grad():
        spikes = net.boundaries[0].encode(net.dies[0](lm.probe)).bool()
    rows = spikes.reshape(3, len(lm.probe), -1).numpy()
    tokens = lm.probe.numel()
    assert counts["frames"].link_bits[0] == pytest.approx(8 * frame_bytes(rows) / tokens)
    assert counts["counts"].link_bits[0] == pytest.approx(8 * count_message_bytes(rows) / tokens)
    # The residual stream is signed: its encoder's spikes also go as signed counts, per token.
    signed = 8 * signed_count_message_bytes(spikes.numpy()) / tokens
    assert counts["signed counts"].link_bits[0] == pytest.approx(signed)


def test_coded_counts_code_the_probe_with_a_table_fitted_on_training_batches(tool, lm):
    """The table comes from TABLE_BATCHES training batches (per token, signed), never from
    the held-out probe whose per-sequence windows it then codes exactly."""
    net = tool.build(lm, tool.Setting("snap", steps=3)).eval()
    counts, traffic = tool.measure_counts(lm, net)
    table = tool.fit_tables(lm, net)[0]
    with torch.no_grad():
        _, _, spiking = tool.cut_pass(net, lm.probe, lambda die, x: (None, die(x)))
        _, boundary, x, stages = spiking[0]
        window, grid = tool.link_window(boundary, x, stages)
    assert grid == (lm.probe.shape[1],) and window.shape == (3, len(lm.probe), *grid, 32)
    assert table.signed and table.grid == grid and table.channels == 16
    assert traffic["table_bytes"] == [len(table.to_bytes())]
    coded = 8 * coded_count_bytes(table, window) / lm.probe.numel()
    assert counts["coded counts"].link_bits[0] == pytest.approx(coded)
    decoded = decode_coded_counts(table, encode_coded_counts(table, window))
    assert (decoded == window.sum(0)).all()


def test_a_projection_sends_no_signed_counts(tool, lm):
    """A spiking layer's spikes are not one-of-two per value: frames, counts and (unsigned)
    coded counts."""
    net = tool.build(lm, tool.Setting("snap", steps=2, hidden=(8,))).eval()
    counts, _ = tool.measure_counts(lm, net)
    assert "frames" in counts and "signed counts" not in counts
    assert not tool.fit_tables(lm, net)[0].signed


def test_settings_train_their_encoders_as_labelled(tool, lm):
    surrogate = tool.build(lm, tool.Setting("snap", steps=2))
    rate = tool.Setting("snap", steps=2, sparsity=1.0, gradient="rate")
    assert surrogate.boundaries[0].encoder.gradient == "surrogate"
    assert tool.build(lm, rate).boundaries[0].encoder.gradient == "rate"
    assert rate.label == "SNAP T=2, w=1, rate gradient"


def test_int_and_dense_settings_send_their_values(tool, lm):
    result = tool.run_setting(lm, tool.Setting("int", bits=4), 2, 1e-3)
    assert "frames" not in result["counts"] and result["spike_rate"] == []
    assert tool.Setting("int", bits=4).label == "int4 boundary"


@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="dataset-fashion-mnist not installed")
def test_the_cnn_is_cut_before_stage2_and_scored_on_test_images(tool):
    cnn = tool.cnn_task(width=2, train_images=64, steps=2, lr=1e-3, test_images=100)
    result = tool.run_setting(cnn, tool.Setting("snap", steps=2, sparsity=0.5), 2, 1e-3)
    assert result["values_per_sample"] == [2 * 28 * 28] and 0 <= result["quality"] <= 100
    assert result["counts"]["int8"].link_bits == (8 * 2 * 28 * 28,)


def test_step_times_interleave_the_settings(tool, lm):
    dense, cut = tool.step_times(
        lm, [tool.Setting("dense"), tool.Setting("snap", steps=2)], 2, 1e-3
    )
    assert dense > 0 and cut > 0
