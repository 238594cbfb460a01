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


def result(tool, setting, frames: float, counts: float, coded: float | None = None) -> dict:
    macs = (1e5, 1e5)
    encodings = {"fp16": CutCounts(macs, (2048.0,)), "int8": CutCounts(macs, (1024.0,))}
    encodings |= {"int4": CutCounts(macs, (512.0,))}
    encodings |= {"frames": CutCounts(macs, (frames,)), "counts": CutCounts(macs, (counts,))}
    if coded is not None:
        encodings["coded counts"] = CutCounts(macs, (coded,))
    return {"setting": setting, "counts": encodings, "table_bytes": [700]}


def test_a_setting_sends_its_own_encoding(tool):
    snap = result(tool, tool.Setting("snap", steps=2), frames=300.0, counts=200.0)
    assert tool.spike_encoding(snap) == "counts" and tool.own_counts(snap).link_bits == (200.0,)
    assert tool.own_counts(result(tool, tool.Setting("int", bits=4), 1, 1)).link_bits == (512.0,)
    assert tool.own_counts(result(tool, tool.Setting("dense"), 1, 1)).link_bits == (2048.0,)
    signed = snap["counts"] | {"signed counts": CutCounts((1e5, 1e5), (180.0,))}
    assert tool.spike_encoding(snap | {"counts": signed}) == "signed counts"
    coded = result(tool, tool.Setting("snap", steps=2), 300.0, 200.0, coded=120.0)
    assert tool.spike_encoding(coded) == "coded counts"


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


def test_the_pick_must_stay_in_budget_on_every_batch_order(tool, monkeypatch):
    """Most bytes saved first; a row over budget on a repeated batch order is rejected."""
    labels = [s.label for s in tool.LM_SETTINGS if s.kind == "snap"][:3]
    rows = [
        {"kind": "snap", "dies": 2, "label": labels[0], "cost": 0.09, "fp16_over_own": 12.0},
        {"kind": "snap", "dies": 2, "label": labels[1], "cost": 0.07, "fp16_over_own": 11.0},
        {"kind": "snap", "dies": 2, "label": labels[2], "cost": 0.3, "fp16_over_own": 40.0},
        {"kind": "int", "dies": 2, "label": "int8 boundary", "cost": 0.0, "fp16_over_own": 2.0},
    ]
    for r in rows:
        r["int8_over_own"] = r["fp16_over_own"] / 2
    quality = {("dense", 2): 2.0, ("dense", 3): 2.0, (labels[0], 2): 2.09}
    quality |= {(labels[0], 3): 2.12, (labels[1], 2): 2.08, (labels[1], 3): 2.09}
    ran = []

    def fake_run(task, setting, finetune, lr, order):
        key = ("dense" if setting.kind == "dense" else setting.label, order)
        ran.append(key)
        macs = (1.0, 1.0)
        encodings = {"fp16": CutCounts(macs, (2048.0,)), "int8": CutCounts(macs, (1024.0,))}
        encodings["counts"] = CutCounts(macs, (200.0,))
        return {"setting": setting, "quality": quality[key], "counts": encodings}

    monkeypatch.setattr(tool, "run_setting", fake_run)
    task = tool.Task("lm", "token", "bits/byte", None, None, None, None, None, 1, {}, {})
    picked = tool.recheck(task, rows, 0.1, 1, lambda text: None)
    assert picked["label"] == labels[1] and picked["within_budget"]
    assert [c["label"] for c in picked["checked"]] == labels[:2]
    assert ran.count(("dense", 3)) == 1  # each order's dense model is fine-tuned once
    best = tool.chosen(rows, picked)
    assert best["cost"] == 0.07 and best["worst"]["fp16_over_own"] == pytest.approx(10.24)
    assert "(rejected)" in tool.recheck_text("lm", best) and "(kept)" in tool.recheck_text(
        "lm", best
    )
    nothing = tool.recheck(task, rows, 0.01, 1, lambda text: None)
    assert nothing == {"label": labels[1], "within_budget": False, "checked": []}


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
            r = result(tool, setting, 300.0, 400.0, bits or None)
            r |= {"quality": 2.0, "step_s": 0.1}
            rows.append(tool.row(task, r | {"spike_rate": [0.1]}, dense, pricing))
        setup[name] = {"unit": "token", "metric": metric, "pretrain_s": 1.0, "pretrain_steps": 2}
        setup[name] |= {"cuts": {"2": [3], "4": [2, 3, 4]}, "layers": 4, "d": 8, "root": "x"}
        setup[name] |= {"files": 1, "first": "a.py", "last": "b.py", "bytes": 9, "test_bytes": 2}
        setup[name] |= {"width": 8, "train_images": 10, "test_images": 10}
    picked = {"label": tool.SCALE_SETTING.label, "within_budget": True, "checked": []}
    best = {n: tool.chosen([r for r in rows if r["task"] == n], picked) for n in ("lm", "cnn")}
    gap = {"energy_needs_pj_per_bit": 9.0, "latency_needs_gbps": 3.0, "bytes_ratio_bound": 8.0}
    steps = {n: {"setting": "x", "steps": 30, "dense_s": 0.2, "cut_s": 0.25} for n in best}
    head = tool.headline(best, 0.5, {n: gap for n in best}, steps)
    assert head["train_step_cut_over_dense"] == pytest.approx(1.25)
    results = [setup, *({**r, "part": p} for r in rows for p in ("settings", "scale"))]
    text = tool.markdown({"headline": head, "results": results}, pricing, "snap_eval")
    assert "| lm_bytes_fp16_over_spikes | 8.0x | >= 10x |" in text
    assert "lm (x) 250 ms against 200 ms" in text
    assert "lm, board-serdes: energy gain over size at 2 dies" in text
    assert "(snap_eval/scaling.png)" in text
    # 256 bits coded against 300 as frames, per 128 values: 0.34 bits saved per value
    assert "Coded counts take 14.7% (lm, SNAP T=4, w=1: cost +0.000) to 14.7% (cnn" in text
    assert "2.00 bits per value coded, 0.34 fewer" in text
    assert "link energies of 29.1 pJ/bit and above (ethernet-optical)" in text
    assert "about 10 pJ up to 8 KB, 20 pJ up to 32 KB, 100 pJ up to 1024 KB" in text
    assert [tool.coder_pj(b) for b in (700, 8192, 23057, 1 << 20, 1 << 21)] == [
        10,
        10,
        20,
        100,
        100,
    ]
    unsized = [setup, *({**r, "part": "settings"} for r in rows)]
    text = tool.markdown({"headline": head, "results": unsized}, pricing, "snap_eval_full")
    assert "Not measured in this run (`--no-sizes`)." in text
    assert "(snap_eval_full/tradeoff.png)" in text and "scaling.png" not in text


def test_the_coder_priced_crossover_adds_a_table_read_per_value_on_each_die(tool):
    """At the priced crossover the spike side's extra die energy plus its coder's (two table
    reads per value) equals the link energy its fewer bits save."""
    row = {
        "encoding": "coded counts",
        "crossover_pj_per_bit_fp16": 1.5,
        "fp16_bytes_per_sample": 256.0,
        "bytes_per_sample": 16.0,
        "table_bytes": [700, 9000],
    }
    saved_bits = 8 * (256.0 - 16.0)
    coder = 2 * 128 * tool.coder_pj(9000)  # the largest table sets the SRAM read
    priced = tool.coder_priced_crossover(row)
    assert priced * saved_bits == pytest.approx(1.5 * saved_bits + coder)
    assert tool.coder_pj(9000) > tool.coder_pj(700)
    assert tool.coder_priced_crossover(row | {"encoding": "counts"}) == 1.5
    assert tool.coder_priced_crossover(row | {"crossover_pj_per_bit_fp16": None}) is None
