"""The Zynq top meets yosys: its AXI4 master bridge synthesizes for the XC7Z020 with no latch
and no cell left unmapped, its line buffer in LUT RAM (the one yosys run here, about 10 s;
the whole top for the demo partition runs in tools/bench_rtl.py as `zynq_top`); `synth
--board` on that part means the Zynq top, whose files are the package's."""

from __future__ import annotations

import shutil
from pathlib import Path

from snapdeploy.backends.rtl import synth
from snapdeploy.backends.rtl.writer import AXI_MASTER, CORE_DIR


def test_axi4_bridge_synthesizes_for_the_zynq_without_latches_or_unmapped_cells(
    tmp_path: Path,
) -> None:
    shutil.copyfile(CORE_DIR / AXI_MASTER, tmp_path / AXI_MASTER)
    bridge = synth.Top("lif_axi4_master", (AXI_MASTER,), {})
    report = synth.synthesize(tmp_path, "xc7z020", 100.0, place=False, top=bridge)
    assert report["latches"] == [] and report["unmapped"] == []
    used = report["utilization"]
    # the 16 x 64-bit line buffer in LUT RAM (RAM32M: 6 bits of 32 words each), no DSP, no
    # block RAM; the rest is the request, the AXI payloads and the error address
    assert used["lutram"] == 11
    assert used["dsp"] == 0 and used["bram36"] == 0
    assert 0 < used["lut"] < 2000 and 0 < used["ff"] < 1000


def test_the_pynq_z2s_board_top_is_the_zynq_top() -> None:
    top = synth.board_top("xc7z020")
    assert top.module == "lif_zynq_top" and "lif_core.v" in top.files
    assert all((CORE_DIR / name).is_file() for name in top.own_files)
    assert set(top.own_files) <= set(top.files)
    assert synth.board_top("lfe5u-85f") is synth.BOARD_TOP


def test_flattening_leaves_hierarchy_names_which_are_not_unmapped_logic() -> None:
    problems = synth.design_problems({"$scopeinfo": 2, "$and": 1, "LDCE": 1, "LUT4": 9})
    assert problems == {"latches": ["LDCE"], "unmapped": ["$and"]}
