"""tools/snap_real.py's parts at toy size: its corpus is the named stdlib files' bytes, and one
setting trains, cuts and measures a record whose ratios follow from its measured wire bytes."""

from __future__ import annotations

import argparse
import importlib.util
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

from snapdeploy.core.packets import decode_steps, encode_steps
from snapdeploy.nn import snap_cut
from snapdeploy.nn.zoo import gpt

TOOL = Path(__file__).resolve().parents[2] / "tools" / "snap_real.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("snap_real_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_corpus_is_the_stdlib_files_in_name_order(tool):
    text, info = tool.corpus(50_000)
    root = Path(sysconfig.get_paths()["stdlib"])
    first = min(root.glob("*.py"))
    assert info["bytes"] == len(text) == 50_000 and info["first"] == first.name
    assert text.startswith(first.read_bytes()[:1000])


def test_wire_bytes_are_the_frames_of_the_boundary_spikes(tool):
    torch.manual_seed(0)
    data = torch.randint(0, 256, (64 * 9 + 1,))
    net = snap_cut(gpt(256, 16, 2, 2, 8), cuts=[2], steps=3, example=data[:64].view(8, 8))
    wire = tool.wire_bytes_per_token(net, data, 8)
    seqs = torch.stack([data[i * 8 : i * 8 + 8] for i in range(64)])
    net.eval()  # as the tool measures (no dropout)
    with torch.no_grad():
        spikes = net.boundaries[0].encode(net.dies[0](seqs)).bool().reshape(3, 64, -1).numpy()
    frames = encode_steps(0, spikes)
    assert wire["bytes_per_token"] == sum(map(len, frames)) / seqs.numel()
    assert np.array_equal(decode_steps(frames, spikes.shape[2], 3, 64, boundary_id=0), spikes)


def test_one_setting_gives_a_consistent_record(tool):
    args = argparse.Namespace(
        train_bytes=20_000, test_bytes=2_000, d=16, heads=2, layers=2, context=16, steps=8,
        finetune=8, batch=4, lr=1e-3, cut=2, T=[2], sparsity=[0.5],
    )  # fmt: skip
    record = tool.run(args)
    (r,) = record["results"]
    assert r["fp16_over_spikes"] == pytest.approx(2 * 16 / r["bytes_per_token"])
    assert r["int8_over_spikes"] == pytest.approx(16 / r["bytes_per_token"])
    assert r["bpb_cost"] == pytest.approx(r["cut_bpb"] - r["dense_bpb"])
    assert 0 <= r["spike_rate"] <= 1 and r["dense_bpb"] > 0
