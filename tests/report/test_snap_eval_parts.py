"""Pieces of tools/snap_eval.py: which spike encoding a setting sends, the headline pick, the
pricing of a setting against its dense model, and the text saying how far SNAP's ratios are."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from snapdeploy.report.chiplet import CutCounts

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture(scope="module")
def tool():
    sys.path.insert(0, str(TOOLS))  # snap_eval imports snap_real beside it
    spec = importlib.util.spec_from_file_location("snap_eval", TOOLS / "snap_eval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]
    sys.path.remove(str(TOOLS))


def result(tool, setting, frames: float, counts: float) -> dict:
    macs = (1e5, 1e5)
    encodings = {"fp16": CutCounts(macs, (2048.0,)), "int8": CutCounts(macs, (1024.0,))}
    encodings |= {"int4": CutCounts(macs, (512.0,))}
    encodings |= {"frames": CutCounts(macs, (frames,)), "counts": CutCounts(macs, (counts,))}
    return {"setting": setting, "counts": encodings}


def test_a_setting_sends_its_own_encoding(tool):
    snap = result(tool, tool.Setting("snap", steps=2), frames=300.0, counts=200.0)
    assert tool.spike_encoding(snap) == "counts" and tool.own_counts(snap).link_bits == (200.0,)
    assert tool.own_counts(result(tool, tool.Setting("int", bits=4), 1, 1)).link_bits == (512.0,)
    assert tool.own_counts(result(tool, tool.Setting("dense"), 1, 1)).link_bits == (2048.0,)
    signed = snap["counts"] | {"signed counts": CutCounts((1e5, 1e5), (180.0,))}
    assert tool.spike_encoding(snap | {"counts": signed}) == "signed counts"


def test_row_ratios_follow_from_the_bits(tool):
    pricing = tool.Pricing()
    dense = result(tool, tool.Setting("dense"), 1, 1) | {"quality": 2.0, "step_s": 0.1}
    snap = result(tool, tool.Setting("snap", steps=2), 400.0, 256.0)
    snap |= {"quality": 2.05, "step_s": 0.12, "spike_rate": [0.1]}
    task = tool.Task("lm", "token", "bits/byte", None, None, None, None, None, 1, {}, {"d": 128})
    row = tool.row(task, snap, dense, pricing)
    assert row["fp16_over_own"] == 8.0 and row["int8_over_own"] == 4.0
    assert row["cost"] == pytest.approx(0.05) and row["step_over_dense"] == pytest.approx(1.2)
    assert row["encoding"] == "counts"
    assert row["crossover_pj_per_bit_fp16"] == 0.0  # no boundary work: fewer bits always pay
    ratios = pricing.ratios(dense["counts"]["fp16"], dense["counts"]["fp16"])
    assert all(v["energy_ratio"] == 1.0 == v["latency_ratio"] for v in ratios.values())


def test_headline_takes_the_most_savings_within_budget_else_the_least_loss(tool):
    rows = [
        {"kind": "snap", "dies": 2, "cost": 0.05, "fp16_over_own": 8.0},
        {"kind": "snap", "dies": 2, "cost": 0.09, "fp16_over_own": 12.0},
        {"kind": "snap", "dies": 2, "cost": 0.3, "fp16_over_own": 40.0},
        {"kind": "snap", "dies": 4, "cost": 0.0, "fp16_over_own": 90.0},
        {"kind": "int", "dies": 2, "cost": 0.0, "fp16_over_own": 4.0},
    ]
    assert tool.pick(rows, 0.1)["fp16_over_own"] == 12.0
    fallback = tool.pick(rows, 0.01)
    assert fallback["cost"] == 0.05 and not fallback["within_budget"]


def test_gap_text_says_what_would_reach_the_paper(tool):
    best = {"versus_fp16": {tool.HEADLINE_LINK: {"energy_ratio": 1.06, "latency_ratio": 1.2}}}
    gap = {"energy_needs_pj_per_bit": 42.0, "latency_needs_gbps": None, "bytes_ratio_bound": 9.0}
    assert "5.0x short of SNAP's 5.3x" in tool.gap_text("energy", best, gap)
    assert "42 pJ/bit or more" in tool.gap_text("energy", best, gap)
    assert "the link bytes fall only 9.0x" in tool.gap_text("latency", best, gap)


def test_the_doc_renders_from_the_bench_record_alone(tool, tmp_path):
    pricing = tool.Pricing()
    rows = []
    setup = {"command": "python tools/snap_eval.py --quick", "finetune": 4, "seconds": 60.0}
    for name, metric in (("lm", "bits/byte"), ("cnn", "accuracy %")):
        task = tool.Task(name, "token", metric, None, None, None, None, None, 1, {}, {"d": 8})
        dense = result(tool, tool.Setting("dense"), 1, 1) | {"quality": 2.0, "step_s": 0.1}
        for setting, bits in ((tool.Setting("dense"), 0), (tool.SCALE_SETTING, 256.0)):
            r = result(tool, setting, 300.0, bits or 1.0) | {"quality": 2.0, "step_s": 0.1}
            rows.append(tool.row(task, r | {"spike_rate": [0.1]}, dense, pricing))
        setup[name] = {"unit": "token", "metric": metric, "pretrain_s": 1.0, "pretrain_steps": 2}
        setup[name] |= {"cuts": {"2": [3], "4": [2, 3, 4]}, "layers": 4, "d": 8, "root": "x"}
        setup[name] |= {"files": 1, "first": "a.py", "last": "b.py", "bytes": 9, "test_bytes": 2}
        setup[name] |= {"width": 8, "train_images": 10, "test_images": 10}
    best = {n: tool.pick([r for r in rows if r["task"] == n], 1.0) for n in ("lm", "cnn")}
    gap = {"energy_needs_pj_per_bit": 9.0, "latency_needs_gbps": 3.0, "bytes_ratio_bound": 8.0}
    head = tool.headline(best, 0.5, {n: gap for n in best})
    results = [setup, *({**r, "part": p} for r in rows for p in ("settings", "scale"))]
    text = tool.markdown({"headline": head, "results": results}, pricing)
    assert "| lm_bytes_fp16_over_spikes | 8.0x | >= 10x |" in text
    assert "lm, board-serdes: energy gain over size at 2 dies" in text and "snap_eval/" in text
