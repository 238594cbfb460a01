"""Named link classes fill a link's figures from the sourced constants; dies carry their own
compute figures, which the energy model uses for their MACs."""

from __future__ import annotations

import pytest
import torch

from snapdeploy.artifact.program import ProgramModule, export_program
from snapdeploy.core.errors import TargetError
from snapdeploy.report.constants import load_constants
from snapdeploy.report.counts import Work, module_macs
from snapdeploy.report.energy import torch_cost
from snapdeploy.targets import load_target
from snapdeploy.targets.links import LINK_CLASSES, LINK_KEYS
from snapdeploy.targets.spec import TorchDevice

TWO_DIES = """
[target]
name = "two"
description = "two dies"
[devices.a]
kind = "torch"
device = "cpu"
[devices.b]
kind = "torch"
device = "cpu"
[[links]]
from = "a"
to = "b"
{link}
"""


def target_with(tmp_path, link: str):
    path = tmp_path / "two.toml"
    path.write_text(TWO_DIES.format(link=link))
    return load_target(path)


@pytest.mark.parametrize("name", sorted(LINK_CLASSES))
def test_each_class_takes_its_sourced_constants(tmp_path, name):
    constants = load_constants()
    link = target_with(tmp_path, f'class = "{name}"').links[0]
    assert link.link_class == name
    for key, constant in zip(LINK_KEYS, LINK_CLASSES[name]):
        assert getattr(link, key) == constants.value(constant)
        assert constants[constant].source.strip()


def test_a_figure_the_link_gives_wins_over_its_class(tmp_path):
    link = target_with(tmp_path, 'class = "pcie5-x16"\nenergy_pj_per_bit = 7.5').links[0]
    assert link.energy_pj_per_bit == 7.5
    assert link.bandwidth_gbps == load_constants().value("pcie5_x16_gbps")


def test_an_unknown_class_is_refused_by_name(tmp_path):
    with pytest.raises(TargetError, match=r"unknown class 'ucie-advnced'.*'ucie-advanced'"):
        target_with(tmp_path, 'class = "ucie-advnced"')


def test_a_link_without_class_still_needs_its_figures(tmp_path):
    with pytest.raises(TargetError, match="bandwidth_gbps"):
        target_with(tmp_path, "latency_ns = 1.0")


def test_the_three_die_target_joins_its_dies_with_ucie_advanced():
    target = load_target("snap-3die")
    assert [d.kind for d in target.devices.values()] == ["torch"] * 3
    assert [link.link_class for link in target.links] == ["ucie-advanced"] * 2
    assert target.link_between("die0", "die2") is None


def test_a_die_prices_its_macs_at_its_own_figures():
    constants = load_constants()
    work = Work("p", "dense", "d", "torch", 1, macs=1000.0)
    die = TorchDevice(name="d", device="cpu", macs_per_ns=4.0, pj_per_mac=0.25)
    cost = torch_cost(work, die, constants)
    assert (cost.energy_pj, cost.latency_ns) == (250.0, 250.0)
    plain = torch_cost(work, TorchDevice(name="d", device="cpu"), constants)
    mac = constants.value("fp16_mult_pj") + constants.value("fp16_add_pj")
    assert plain.energy_pj == pytest.approx(1000 * mac)
    assert plain.latency_ns == pytest.approx(1000 / constants.value("dense_macs_per_ns"))


def test_a_die_program_counts_its_matmul_macs():
    d, tokens = 16, 8
    mlp = torch.nn.Sequential(torch.nn.Linear(d, 4 * d), torch.nn.GELU(), torch.nn.Linear(4 * d, d))
    program = ProgramModule(export_program(mlp, (torch.zeros(2, tokens, d),), dynamic_batch=True))
    macs, shape = module_macs(program, (tokens, d))
    assert (macs, shape) == (tokens * 2 * d * 4 * d, (tokens, d))
    assert module_macs(mlp, (tokens, d))[0] == macs  # the Linear-hook count of the same layers
