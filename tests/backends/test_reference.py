"""What only the reference backend has (the contract every backend keeps is tested in
test_conformance.py): what it records, and that compile -> load is `ReferenceNetwork.run`."""

from __future__ import annotations

import numpy as np

from snapdeploy.backends import CompiledPartition, get_backend
from snapdeploy.backends.base import COMPILED_FILE
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.targets import ReferenceDevice
from tests.models import spiking_partition
from tests.strategies import params


def test_the_compiled_record_is_what_load_needs(tmp_path):
    partition = spiking_partition([params(np.full((4, 3), 40), vth=10), params(np.full((2, 4), 2))])
    compiled = get_backend("reference").compile(partition, ReferenceDevice(name="ref"), tmp_path)
    assert (tmp_path / COMPILED_FILE).is_file()
    assert (compiled.kind, compiled.partition, compiled.device) == (
        "reference",
        "p1_spiking",
        "ref",
    )
    assert (compiled.n_in, compiled.n_out) == (3, 2)
    assert compiled.meta == {"index": 1, "neurons": 6}
    spikes = np.random.default_rng(0).random((9, 2, 3)) < 0.5
    with get_backend("reference").load(CompiledPartition.load(tmp_path)) as executor:
        np.testing.assert_array_equal(
            executor.run(spikes), ReferenceNetwork(partition.layers).run(spikes)[0]
        )
