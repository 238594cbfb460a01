"""Pieces of tools/snap_eval.py: the stdlib-source character data, the baseline pricing, the
headline pick, and a hybrid cut at one and two boundaries deployed and priced end to end."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from snapdeploy.report.chartext import ALPHABET, OTHER, VOCAB, bits_per_char, char_task, encode
from snapdeploy.report.comparison import baseline_cost, pick_headline
from snapdeploy.report.constants import load_constants

TOOL = Path(__file__).resolve().parents[2] / "tools" / "snap_eval.py"
C = load_constants()


@pytest.fixture(scope="module")
def snap_eval():
    spec = importlib.util.spec_from_file_location("snap_eval_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_characters_are_one_hot_contexts_of_the_stdlib_source():
    task = char_task(2000, 500, context=4)
    assert task.x_train.shape == (1996, 4 * VOCAB) and task.x_test.shape == (496, 4 * VOCAB)
    assert np.all(task.x_train.sum(axis=1) == 4)
    first = task.x_train[0].reshape(4, VOCAB).argmax(axis=1)
    assert list(first[1:]) == list(task.x_train[1].reshape(4, VOCAB).argmax(axis=1)[:3])
    assert task.y_train[0] == task.x_train[1].reshape(4, VOCAB).argmax(axis=1)[3]
    assert "stdlib" in task.source
    assert list(encode("a\n\u00e9")) == [ALPHABET.index("a"), 0, OTHER]


def test_bits_per_char_of_uniform_and_certain_scores():
    assert bits_per_char(np.zeros((3, 8)), np.array([0, 1, 2])) == pytest.approx(3.0)
    certain = np.full((2, 4), -100.0)
    certain[[0, 1], [2, 3]] = 100.0
    assert bits_per_char(certain, np.array([2, 3])) == pytest.approx(0.0, abs=1e-9)


def test_baseline_is_dense_macs_plus_fp16_links(snap_eval, tmp_path):
    target = snap_eval.write_target(tmp_path, "serdes", 2, C)
    segments = [nn.Sequential(nn.Linear(8, 4), nn.ReLU()), nn.Sequential(nn.Linear(4, 2))]
    cost = baseline_cost(segments, (8,), target.links, C)
    link_pj = 16 * 4 * 5.0  # 4 fp16 values at serdes_pj_per_bit
    assert cost["link_energy_pj"] == pytest.approx(link_pj)
    assert cost["energy_pj"] == pytest.approx((32 + 8) * 1.5 + link_pj)
    assert cost["latency_ns"] == pytest.approx(40 / 1000 + 100.0 + 64 / 112.0)


def test_headline_takes_the_most_savings_within_budget_else_the_least_loss():
    rows = [
        {"loss": 0.5, "bytes_fp16_over_spikes": 6.0},
        {"loss": 2.0, "bytes_fp16_over_spikes": 9.0},
        {"loss": -0.2, "bytes_fp16_over_spikes": 4.0},
    ]
    assert pick_headline(rows, "loss", 1.0) == {**rows[0], "within_budget": True}
    assert pick_headline(rows, "loss", -1.0) == {**rows[2], "within_budget": False}


def test_configurations_sweep_the_first_width_then_grow(snap_eval):
    configs = snap_eval.configurations(snap_eval.QUICK, "vision")
    first = snap_eval.QUICK.widths["vision"][0]
    assert [(w, c) for w, c, _ in configs[:4]] == [(first, 1), (first, 1), (first, 2), (first, 2)]
    assert sorted({w for w, _, _ in configs}) == sorted(snap_eval.QUICK.widths["vision"])
    assert len(snap_eval.QUICK.widths["vision"]) >= 3


@pytest.mark.parametrize("cuts", [1, 2])
def test_a_hybrid_row_is_measured_and_priced(snap_eval, tmp_path, cuts):
    settings = snap_eval.Settings({"vision": [16]}, [0.1], 0.1, {"vision": 1}, 0, 0)
    rng = np.random.default_rng(0)
    x = rng.random((120, 12), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    task = snap_eval.Task("vision", x[:80], y[:80], x[80:], y[80:], 2, "accuracy", "random")
    evaluation = snap_eval.Evaluation(settings, tmp_path, C)
    row = evaluation.hybrid_row(task, 16, cuts, 0.1)
    assert row["test_samples"] == 40 and row["fp16_bytes_per_sample"] == 2 * 16 * cuts
    assert row["bytes_fp16_over_spikes"] == pytest.approx(
        row["fp16_bytes_per_sample"] / row["spike_bytes_per_sample"]
    )
    for scenario in ("ucie", "serdes"):
        priced = row[scenario]
        assert priced["energy_ratio"] == pytest.approx(
            priced["baseline_energy_pj"] / priced["energy_pj"]
        )
        assert 0 < priced["baseline_link_share"] < 1
    # a SerDes bit costs 10x a UCIe bit: the links weigh more, the baseline costs more
    assert row["serdes"]["baseline_energy_pj"] > row["ucie"]["baseline_energy_pj"]
