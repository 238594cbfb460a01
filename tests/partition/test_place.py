"""Placement: the default device per partition kind, explicit mappings, refusals that name what is
wrong, and plan.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from snapdeploy.core.errors import TargetError
from snapdeploy.nn import (
    DenseBlock,
    HybridNet,
    SpikeBoundary,
)
from snapdeploy.partition import cut, place
from snapdeploy.partition.place import PLAN_FILE, estimated_traffic
from snapdeploy.quant.export import export_model
from snapdeploy.targets import (
    LavaDevice,
    LinkSpec,
    ReferenceDevice,
    Target,
    TorchDevice,
    load_target,
)
from tests.models import hybrid_net

T = 3


def hybrid_partitions():
    """p0_dense -> p1_spiking -> p2_dense, boundaries 5 and 3 wide."""
    return cut(export_model(hybrid_net([5, 4, 3], T, n_in=6, n_out=2)))


def boundary_only_partitions():
    torch.manual_seed(0)
    model = HybridNet(
        DenseBlock(nn.Linear(6, 5)),
        SpikeBoundary(5, T),
        DenseBlock(nn.Linear(5, 2)),
        input_shape=(6,),
        steps=T,
    )
    return cut(export_model(model))


def link(a: str, b: str) -> LinkSpec:
    return LinkSpec(src=a, dst=b, bandwidth_gbps=1.0, latency_ns=10.0, energy_pj_per_bit=1.0)


def target(*devices, links=(), name="bench") -> Target:
    return Target(
        name=name,
        description="",
        path=Path(f"/nowhere/{name}.toml"),
        devices={d.name: d for d in devices},
        links=list(links),
    )


def devices_of(plan) -> dict[str, str]:
    return {p.partition: p.device for p in plan.placements}


def test_default_puts_dense_on_torch_and_spiking_on_the_first_spiking_device_in_file_order():
    partitions, boundaries = hybrid_partitions()
    bench = target(
        ReferenceDevice(name="ref_a"),
        TorchDevice(name="host", device="cpu"),
        LavaDevice(name="loihi"),
        ReferenceDevice(name="ref_b"),
        links=[link("host", "ref_a")],
    )
    plan = place(partitions, boundaries, bench)

    assert plan.target == "bench"
    assert devices_of(plan) == {"p0_dense": "host", "p1_spiking": "ref_a", "p2_dense": "host"}
    assert [(p.partition_kind, p.device_kind) for p in plan.placements] == [
        ("dense", "torch"),
        ("spiking", "reference"),
        ("dense", "torch"),
    ]
    assert [p.index for p in plan.placements] == [0, 1, 2]
    assert [(b.src_device, b.dst_device, b.has_link) for b in plan.boundaries] == [
        ("host", "ref_a", True),
        ("ref_a", "host", True),  # a link carries both ways
    ]
    assert [b.boundary for b in plan.boundaries] == boundaries


def test_default_follows_file_order_when_another_spiking_kind_comes_first():
    partitions, boundaries = hybrid_partitions()
    bench = target(LavaDevice(name="loihi"), ReferenceDevice(name="ref"), TorchDevice(name="host"))
    plan = place(partitions, boundaries, bench)
    assert devices_of(plan)["p1_spiking"] == "loihi"
    assert plan.placements[1].device_kind == "lava"
    assert [b.has_link for b in plan.boundaries] == [False, False]


def test_an_explicit_mapping_overrides_the_default():
    partitions, boundaries = hybrid_partitions()
    bench = target(
        TorchDevice(name="host"),
        TorchDevice(name="gpu2"),
        ReferenceDevice(name="ref_a"),
        ReferenceDevice(name="ref_b"),
        links=[link("ref_b", "gpu2")],
    )
    plan = place(partitions, boundaries, bench, {"p1_spiking": "ref_b", "p2_dense": "gpu2"})

    assert devices_of(plan) == {"p0_dense": "host", "p1_spiking": "ref_b", "p2_dense": "gpu2"}
    assert [(b.src_device, b.dst_device, b.has_link) for b in plan.boundaries] == [
        ("host", "ref_b", False),
        ("ref_b", "gpu2", True),
    ]


def test_an_empty_or_missing_mapping_is_the_default():
    partitions, boundaries = hybrid_partitions()
    bench = target(TorchDevice(name="host"), ReferenceDevice(name="ref"))
    assert place(partitions, boundaries, bench, {}) == place(partitions, boundaries, bench, None)


@pytest.mark.parametrize(
    ("partition", "device", "kind"),
    [("p1_spiking", "host", "torch"), ("p0_dense", "ref", "reference")],
)
def test_mapping_to_a_device_of_the_wrong_kind_names_partition_and_device(partition, device, kind):
    partitions, boundaries = hybrid_partitions()
    bench = target(TorchDevice(name="host"), ReferenceDevice(name="ref"))
    with pytest.raises(TargetError) as error:
        place(partitions, boundaries, bench, {partition: device})
    message = str(error.value)
    assert partition in message
    assert f"'{device}'" in message
    assert kind in message
    assert "fix:" in message


def test_mapping_an_unknown_partition_names_it_and_lists_the_real_ones():
    partitions, boundaries = hybrid_partitions()
    bench = target(TorchDevice(name="host"), ReferenceDevice(name="ref"))
    with pytest.raises(TargetError) as error:
        place(partitions, boundaries, bench, {"p7_spiking": "ref", "p1_spiking": "ref"})
    message = str(error.value)
    assert "p7_spiking" in message
    for real in ("p0_dense", "p1_spiking", "p2_dense"):
        assert real in message


def test_mapping_to_an_unknown_device_names_it_and_suggests_the_closest():
    partitions, boundaries = hybrid_partitions()
    bench = target(TorchDevice(name="host"), ReferenceDevice(name="ref"))
    with pytest.raises(TargetError) as error:
        place(partitions, boundaries, bench, {"p1_spiking": "reff"})
    message = str(error.value)
    assert "'reff'" in message
    assert "'ref'" in message


def test_a_target_without_a_spiking_device_is_refused_naming_target_and_partition():
    partitions, boundaries = hybrid_partitions()
    bench = target(TorchDevice(name="host"), name="gpu-only")
    with pytest.raises(TargetError) as error:
        place(partitions, boundaries, bench)
    message = str(error.value)
    assert "gpu-only" in message
    assert "p1_spiking" in message
    assert "reference" in message and "fix:" in message


def test_a_target_without_a_dense_device_is_refused():
    partitions, boundaries = hybrid_partitions()
    bench = target(ReferenceDevice(name="ref"), name="spikes-only")
    with pytest.raises(TargetError, match="p0_dense") as error:
        place(partitions, boundaries, bench)
    assert "torch" in str(error.value)


def test_a_spike_boundary_model_needs_no_spiking_device():
    partitions, boundaries = boundary_only_partitions()
    bench = target(
        TorchDevice(name="host"), TorchDevice(name="other"), links=[link("host", "other")]
    )
    plan = place(partitions, boundaries, bench, {"p1_dense": "other"})
    assert devices_of(plan) == {"p0_dense": "host", "p1_dense": "other"}
    assert [(b.src_device, b.dst_device, b.has_link) for b in plan.boundaries] == [
        ("host", "other", True),
    ]


def test_plan_json_holds_placements_and_boundaries(tmp_path):
    partitions, boundaries = hybrid_partitions()
    bench = target(
        TorchDevice(name="host"), ReferenceDevice(name="ref"), links=[link("host", "ref")]
    )
    plan = place(partitions, boundaries, bench)

    path = plan.write(tmp_path)
    assert path == tmp_path / PLAN_FILE
    record = json.loads(path.read_text())
    assert record == plan.to_json()
    assert record == {
        "target": "bench",
        "placements": [
            {
                "partition": "p0_dense",
                "index": 0,
                "partition_kind": "dense",
                "device": "host",
                "device_kind": "torch",
            },
            {
                "partition": "p1_spiking",
                "index": 1,
                "partition_kind": "spiking",
                "device": "ref",
                "device_kind": "reference",
            },
            {
                "partition": "p2_dense",
                "index": 2,
                "partition_kind": "dense",
                "device": "host",
                "device_kind": "torch",
            },
        ],
        "boundaries": [
            {
                "id": 0,
                "src": 0,
                "dst": 1,
                "width": 5,
                "steps": T,
                "values": None,
                "src_device": "host",
                "dst_device": "ref",
                "has_link": True,
                "fp16_bytes_per_sample": 10,
                **estimated_traffic(boundaries[0]),
            },
            {
                "id": 1,
                "src": 1,
                "dst": 2,
                "width": 3,
                "steps": T,
                "values": None,
                "src_device": "ref",
                "dst_device": "host",
                "has_link": True,
                "fp16_bytes_per_sample": 6,
                **estimated_traffic(boundaries[1]),
            },
        ],
    }


def test_the_shipped_emulator_target_places_dense_on_host_and_spiking_on_ref():
    partitions, boundaries = hybrid_partitions()
    plan = place(partitions, boundaries, load_target("emulator"))
    assert plan.target == "emulator"
    assert devices_of(plan) == {"p0_dense": "host", "p1_spiking": "ref", "p2_dense": "host"}
    assert all(b.has_link for b in plan.boundaries)


def test_estimated_bytes_follow_the_assumed_rate_and_stay_below_fp16():
    _partitions, boundaries = hybrid_partitions()
    for boundary in boundaries:
        estimate = estimated_traffic(boundary)
        assert 0 < estimate["estimated_bytes_per_step"]
        assert estimate["estimated_bytes_per_sample"] < 2 * boundary.width * T


def test_mapping_from_the_command_line_and_from_the_target_file(tmp_path):
    from snapdeploy.partition.place import parse_mapping
    from snapdeploy.targets import load_target

    assert parse_mapping(["p1_spiking=ref", " p0_dense = host "]) == {
        "p1_spiking": "ref",
        "p0_dense": "host",
    }
    with pytest.raises(TargetError, match="PARTITION=DEVICE"):
        parse_mapping(["p1_spiking"])
    toml = tmp_path / "t.toml"
    devices = (
        '[target]\nname = "t"\n[devices.host]\nkind = "torch"\n[devices.ref]\nkind = "reference"\n'
    )
    toml.write_text(devices + '[mapping]\np1_spiking = "ref"\n')
    assert load_target(toml).mapping == {"p1_spiking": "ref"}
    toml.write_text(devices + "[mapping]\np1_spiking = 3\n")
    with pytest.raises(TargetError, match="mapping"):
        load_target(toml)
    toml.write_text(devices + '[mapping]\np1_spiking = "fgpa"\n')
    with pytest.raises(TargetError, match="fgpa"):
        load_target(toml)
