"""The tables built at load, against plain oracles: each global neuron is numbered into the
slice that runs it, each core's synaptic rows are the non-zero columns of its weights, and the
per-slice traffic is one packet per slice walked through the tables: its counts and link load,
the weight blocks (the weights times the copies each core gets) and the copies that find no
synaptic row; per routing unit, which for these Dense networks is each slice. With the
compiled tables the blocks add up to the layers' weights."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker.mesh import N_LINKS
from snapdeploy.backends.spinnaker.router import Router
from snapdeploy.backends.spinnaker.tables import (
    BLOCK_ROWS,
    PER_PACKET,
    LoadTables,
    SliceTraffic,
)
from tests.backends.spinnaker.cases import fits, mapped, networks, tampered, walk

SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(networks())
def test_neurons_are_numbered_into_their_slices_and_rows_are_the_nonzero_columns(case) -> None:
    device, layers, rng = case
    assume(fits(device, layers))
    board = mapped(device, layers).board()
    tables = LoadTables.build(board, layers)
    assert tables.sizes == (layers[0].n_in, *(p.n_out for p in layers))
    neuron = np.arange(sum(tables.sizes))
    population = np.searchsorted(tables.offsets, neuron, side="right") - 1
    local = neuron - tables.offsets[population]
    s = tables.slice_of_neuron
    assert np.all(board.population[s] == population)
    assert np.all((board.lo[s] <= local) & (local < board.hi[s]))
    units, u = board.units, tables.unit_of_neuron
    assert np.all(units.slice[u] == s)
    assert np.all((units.lo[u] <= local) & (local < units.hi[u]))

    fired = rng.random((2, len(neuron))) < 0.5
    first = tables.offsets[board.population[units.slice]] + units.lo
    want = [
        [int(f[first[u] : first[u] + units.hi[u] - units.lo[u]].sum()) for u in tables.unit_order]
        for f in fired
    ]
    np.testing.assert_array_equal(tables.spikes_per_unit(fired), want)

    for s, rows in enumerate(tables.rows):
        p = int(board.population[s])
        if p == 0:
            assert rows is None
            continue
        weights = layers[p - 1].weights[board.lo[s] : board.hi[s]]
        used = np.any(weights != 0, axis=0)
        np.testing.assert_array_equal(rows.row_of >= 0, used)
        for pre in np.flatnonzero(used).tolist():  # a row's words spell the neuron's weights
            row = rows.row_of[pre]
            words = slice(rows.row_start[row], rows.row_start[row + 1])
            dense = np.zeros(rows.width)
            dense[rows.columns[words]] = rows.weights[words]
            np.testing.assert_array_equal(dense, weights[:, pre])


@SETTINGS
@given(networks(), st.booleans())
def test_slice_traffic_is_one_packet_per_slice_walked_through_the_tables(case, tamper) -> None:
    device, layers, rng = case
    assume(fits(device, layers))
    board = mapped(device, layers).board()
    if tamper:
        board = tampered(board, rng)
    tables = LoadTables.build(board, layers)
    traffic = SliceTraffic.build(board, layers, tables, Router(board))
    offsets, lo, hi, population = tables.offsets, board.lo, board.hi, board.population
    sums = tables.sum_offsets  # Dense layers: one sum per neuron, the input's left out
    slice_at = {(int(c), int(k)): s for s, (c, k) in enumerate(zip(board.chip, board.core))}
    want = np.zeros((sums[-1], offsets[-1]), np.int64)  # [receiving sum, sending neuron]
    no_row = np.zeros(offsets[-1], np.int64)
    units = board.units
    for counts, load, u in zip(traffic.counts, traffic.load, tables.unit_order.tolist()):
        s = int(units.slice[u])
        if not board.sends[u]:
            assert not counts.any() and not load.any()
            continue
        trip = walk(board, int(units.key[u]), int(board.chip[s]))
        targets = [slice_at.get(r, -1) for r in trip.reached]
        right = [t for t in targets if t >= 0 and population[t] == population[s] + 1]
        assert dict(zip(PER_PACKET, counts.tolist())) == {
            "packets_sent": 1,
            "router_lookups": trip.lookups,
            "hops": len(trip.hops),
            "deliveries": len(targets),
            "dropped_no_route": trip.no_route,
            "dropped_no_link": trip.no_link,
            "misdelivered": len(targets) - len(right),
        }
        walked = np.zeros((board.mesh.n_chips, N_LINKS), np.int64)
        np.add.at(walked, tuple(np.array(trip.hops, np.int64).reshape(-1, 2).T), 1)
        np.testing.assert_array_equal(load.reshape(walked.shape), walked)
        p = int(population[s])
        pre = slice(offsets[p] + units.lo[u], offsets[p] + units.hi[u])
        for t in right:  # every copy a core gets adds its weights once more
            weights = layers[p].weights[lo[t] : hi[t], units.lo[u] : units.hi[u]]
            want[sums[p] + lo[t] : sums[p] + hi[t], pre] += weights
            no_row[pre] += ~np.any(weights != 0, axis=0)

    got = np.zeros_like(want)
    covered = np.zeros(sums[-1], np.int64)
    for out, first, weights in traffic.blocks:
        assert 0 < len(weights) <= BLOCK_ROWS
        got[out : out + len(weights), first : first + weights.shape[1]] += weights
        covered[out : out + len(weights)] += 1
    assert covered.max(initial=0) <= 1, "two blocks feed one neuron"
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(traffic.no_row, no_row)
    if not tamper:
        for p, layer in enumerate(layers):
            layer_block = got[sums[p] : sums[p + 1], offsets[p] : offsets[p + 1]]
            np.testing.assert_array_equal(layer_block, layer.weights)
