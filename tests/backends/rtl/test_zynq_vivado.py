"""hw/rtl/build.tcl, the Vivado script a user with a licence runs (not run here: no Vivado),
names what exists: the Zynq top's files and module, the IP's VLNV the simulation reports,
the instance name the PYNQ driver looks the core up by, the power-on files the writer
writes."""

from __future__ import annotations

import re
from pathlib import Path

from snapdeploy.backends.fpga.overlay import CORE_NAME
from snapdeploy.backends.rtl.build import ZYNQ_MODEL
from snapdeploy.backends.rtl.sim import ZynqCore
from snapdeploy.backends.rtl.synth import board_top
from snapdeploy.backends.rtl.writer import CORE_DIR, DATA_FILES, HEADER

SCRIPT = Path(__file__).resolve().parents[3] / "hw" / "rtl" / "build.tcl"


def test_the_vivado_script_names_the_files_and_names_that_exist() -> None:
    tcl = SCRIPT.read_text()
    top = board_top("xc7z020")
    sources = re.search(r"^set sources \{([^}]*)\}$", tcl, re.MULTILINE).group(1).split()
    assert sources == list(top.files)
    assert all((CORE_DIR / name).is_file() for name in sources)
    assert set(sources) <= set(ZYNQ_MODEL.files)  # what the tests simulate
    assert re.search(rf"^set top {top.module}$", tcl, re.MULTILINE)
    assert re.search(rf"^set header {re.escape(HEADER)}$", tcl, re.MULTILINE)
    assert "[glob *.hex]" in tcl and all(name.endswith(".hex") for name, _ in DATA_FILES.values())
    vendor, library, name, version = ZynqCore.ip_type.split(":")
    assert f"-vendor {vendor} -library {library}" in tcl
    assert f"-vlnv {ZynqCore.ip_type} {CORE_NAME}" in tcl
    assert (name, version) == (top.module, "1.0")
    for port in ("s_axi_control", "m_axi_gmem", "interrupt"):
        assert f"lif_core_0/{port}" in tcl
    assert "S_AXI_HP0" in tcl and "M_AXI_GP0" in tcl and "IRQ_F2P" in tcl
    assert "lif.bit" in tcl and "lif.hwh" in tcl
