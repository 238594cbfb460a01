"""Fused multi-step LIF: the step loop's spikes bit for bit and its gradients (current,
threshold, bias) to 1e-5, the true gradient of the final state (gradcheck), what it saves
for backward, its build, and the peers (snnTorch, SpikingJelly) where their neurons coincide
with ours."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snapdeploy.nn.lif as lif_module
from snapdeploy.nn import LIF, HybridNet, SpikeBoundary, SpikingBlock, SpikingLinear
from snapdeploy.nn.fused import FusedLIFError, build, fused_lif, fused_supported
from snapdeploy.nn.lif import lif_sequence

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]

decays = st.one_of(st.sampled_from([1 / 4096, 0.5, 1.0]), st.floats(1 / 4096, 1.0))
voltage_decays = st.one_of(st.sampled_from([0.0, 4095 / 4096]), st.floats(0.0, 4095 / 4096))


def run_both(current, du, dv, vth, bias, weights, fused: bool, reset: str = "zero"):
    """Spikes and the gradients w.r.t. (current, vth, bias) of sum(spikes * weights)."""
    leaves = [t.detach().clone().requires_grad_() for t in (current, vth, bias)]
    spikes = lif_sequence(leaves[0], du, dv, leaves[1], leaves[2], fused=fused, reset=reset)
    (spikes * weights).sum().backward()
    return spikes.detach(), [leaf.grad for leaf in leaves]


@SETTINGS
@given(
    steps=st.integers(1, 64),
    batch=st.integers(1, 4),
    n=st.integers(1, 40),
    du=decays,
    dv=voltage_decays,
    vth=st.floats(0.05, 3.0),
    double=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    reset=st.sampled_from(lif_module.RESETS),
)
def test_fused_equals_step_loop(steps, batch, n, du, dv, vth, double, seed, reset) -> None:
    gen = torch.Generator().manual_seed(seed)
    dtype = torch.float64 if double else torch.float32
    current = torch.randn(steps, batch, n, generator=gen, dtype=dtype) * 0.8 + 0.3
    bias = torch.randn(n, generator=gen, dtype=dtype) * 0.3
    # float32 sums of mixed-sign terms are inexact in the loop itself: positive weights there
    weights = torch.rand(steps, batch, n, generator=gen, dtype=dtype) + 0.5
    if double:
        weights = torch.randn(steps, batch, n, generator=gen, dtype=dtype)
    threshold = torch.tensor(vth, dtype=dtype)
    for device in DEVICES:
        args = [t.to(device) for t in (current, threshold, bias, weights)]
        ref_spikes, ref_grads = run_both(*args[:1], du, dv, *args[1:], fused=False, reset=reset)
        spikes, grads = run_both(*args[:1], du, dv, *args[1:], fused=True, reset=reset)
        assert torch.equal(spikes, ref_spikes)
        for got, expected in zip(grads, ref_grads):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-12 if double else 1e-6)


@pytest.mark.parametrize("reset", lif_module.RESETS)
def test_current_gradient_is_bit_equal_in_float32(reset) -> None:
    """Same operations in the same order as autograd, so no tolerance is needed for it."""
    gen = torch.Generator().manual_seed(3)
    current = torch.randn(33, 5, 300, generator=gen) + 0.4
    bias, vth = torch.randn(300, generator=gen) * 0.2, torch.tensor(0.9)
    weights = torch.randn(33, 5, 300, generator=gen)
    ref_spikes, ref = run_both(current, 0.3, 0.1, vth, bias, weights, fused=False, reset=reset)
    spikes, got = run_both(current, 0.3, 0.1, vth, bias, weights, fused=True, reset=reset)
    assert torch.equal(spikes, ref_spikes) and 0.1 < spikes.mean() < 0.9
    assert torch.equal(got[0], ref[0])


def loop_trace(current, du, dv, vth, bias):
    """The loop's final (u, v), which lif_sequence does not return, and every pre-reset v."""
    u = torch.zeros_like(current[0])
    v = torch.zeros_like(current[0])
    pre = []
    for a in current:
        u = u * (1.0 - du) + a
        v = v * (1.0 - dv) + u + bias
        pre.append(v)
        v = torch.where(v > vth, torch.zeros_like(v), v)
    return (u, v), torch.stack(pre)


@pytest.mark.parametrize("device", DEVICES)
def test_final_state_equals_loop(device) -> None:
    gen = torch.Generator().manual_seed(5)
    current = (torch.randn(20, 3, 7, generator=gen) + 0.5).to(device)
    bias, vth = torch.full((7,), 0.1, device=device), torch.tensor(1.2, device=device)
    spikes, u, v = fused_lif(current, 0.25, 0.5, vth, bias, return_state=True)
    (ref_u, ref_v), _ = loop_trace(current, 0.25, 0.5, vth, bias)
    assert torch.equal(spikes, lif_sequence(current, 0.25, 0.5, vth, bias, fused=False))
    assert torch.equal(u, ref_u) and torch.equal(v, ref_v)


def test_gradcheck_of_final_state_float64() -> None:
    """The state is a smooth function of the inputs while no voltage sits at the threshold, so
    its analytic gradient (detached reset) must equal finite differences. Spikes are a step
    function whose finite differences are zero; their surrogate gradient is checked against
    the loop above instead."""
    gen = torch.Generator().manual_seed(11)
    current = torch.randn(6, 2, 3, generator=gen, dtype=torch.float64) + 0.6
    bias = torch.randn(3, generator=gen, dtype=torch.float64) * 0.2
    vth = torch.tensor(0.9, dtype=torch.float64)
    saved = fused_lif(current, 0.4, 0.3, vth, bias, return_state=True)
    assert 0 < saved[0].sum() < saved[0].numel()  # some resets happen
    _, pre_reset = loop_trace(current, 0.4, 0.3, vth, bias)
    assert (pre_reset - vth).abs().min() > 1e-3  # finite differences flip no spike

    def state(a, b, threshold):
        _, u, v = fused_lif(a, 0.4, 0.3, threshold, b, return_state=True)
        return u, v

    inputs = tuple(t.clone().requires_grad_() for t in (current, bias, vth))
    assert torch.autograd.gradcheck(state, inputs, eps=1e-6, atol=1e-7)


def test_subtract_reset_state_and_its_gradients_equal_the_loop() -> None:
    """With subtract reset the final v depends on the threshold (v -= vth at each spike): the
    fused kernel's state and its gradients w.r.t. current, vth and bias equal the loop's."""
    gen = torch.Generator().manual_seed(13)
    current = torch.randn(12, 3, 5, generator=gen, dtype=torch.float64) + 0.7
    bias = torch.randn(5, generator=gen, dtype=torch.float64) * 0.2
    vth = torch.tensor(0.8, dtype=torch.float64)

    def loop(a, b, threshold):
        u, v = torch.zeros_like(a[0]), torch.zeros_like(a[0])
        fired = []
        for step in a:
            u = u * 0.6 + step
            v = v * 0.7 + u + b
            s = (v > threshold).to(v.dtype)
            v = v - s * threshold
            fired.append(s)
        return torch.stack(fired), u, v

    def fused(a, b, threshold):
        return fused_lif(a, 0.4, 0.3, threshold, b, return_state=True, reset="subtract")

    grads = []
    for run in (loop, fused):
        leaves = [t.clone().requires_grad_() for t in (current, bias, vth)]
        spikes, u, v = run(*leaves)
        (u.sum() + (v * torch.arange(5.0, dtype=v.dtype)).sum()).backward()
        grads.append((spikes.detach(), u.detach(), v.detach(), *[t.grad for t in leaves]))
    assert 0 < grads[0][0].mean() < 1  # some spikes, so some subtractions
    for got, want in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_saves_one_tensor_for_backward_and_none_without_grad() -> None:
    """What autograd keeps between forward and backward: the loop keeps several tensors per
    step, the fused function one [T, batch, n] tensor in all (on CPU the input current, from
    which backward replays the steps, and the n-element bias)."""
    current = torch.randn(16, 4, 32, requires_grad=True)
    vth = torch.tensor(1.0, requires_grad=True)
    bias = torch.zeros(32, requires_grad=True)

    def saved_elements(fused: bool) -> int:
        count = 0

        def pack(tensor):
            nonlocal count
            count += tensor.numel()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            lif_sequence(current, 0.5, 0.5, vth, bias, fused=fused)
        return count

    assert saved_elements(fused=True) == current.numel() + bias.numel()
    assert saved_elements(fused=False) >= 2 * current.numel()
    with torch.no_grad():
        spikes, *_ = fused_lif(current, 0.5, 0.5, vth, bias, return_state=True)
    assert spikes.grad_fn is None


@pytest.mark.parametrize("shape", [(9, 6), (9, 2, 3, 6), (0, 2, 6), (9, 0, 6)])
def test_layouts_other_than_three_dims(shape) -> None:
    current = torch.randn(*shape) + 0.5
    vth, bias = torch.tensor(0.7), torch.linspace(-0.2, 0.2, shape[-1])
    fused = fused_lif(current, 0.5, 0.2, vth, bias)
    assert fused.shape == current.shape
    if shape[0]:
        assert torch.equal(fused, lif_sequence(current, 0.5, 0.2, vth, bias, fused=False))


def test_expanded_and_strided_inputs_and_scalar_bias() -> None:
    """SpikeEncoder feeds an expanded (stride 0) current; a float bias is a constant."""
    x = torch.randn(3, 10, requires_grad=True)
    current = x.unsqueeze(0).expand(12, 3, 10)
    vth = torch.tensor(0.8)
    fused = lif_sequence(current, 1.0, 0.1, vth, 0.3)
    fused.sum().backward()
    grad = x.grad.clone()
    x.grad = None
    loop = lif_sequence(current, 1.0, 0.1, vth, 0.3, fused=False)
    loop.sum().backward()
    assert torch.equal(fused, loop)
    torch.testing.assert_close(grad, x.grad, rtol=1e-5, atol=1e-6)
    transposed = torch.randn(10, 3, 12).permute(2, 1, 0)
    assert torch.equal(
        fused_lif(transposed, 0.5, 0.5, vth), lif_sequence(transposed, 0.5, 0.5, vth, fused=False)
    )


def test_thread_count_does_not_change_results() -> None:
    current = torch.randn(10, 8, 1500) + 0.3
    vth = torch.tensor(1.0, requires_grad=True)
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            vth.grad = None
            spikes = fused_lif(current, 0.5, 0.5, vth)
            spikes.sum().backward()
            results.append((spikes, vth.grad.clone()))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_long_sequences_many_rows_and_the_sum_gradient(dtype) -> None:
    """Shapes that split backward's replay into narrower blocks (long T), several rows per
    work item with a shorter last one, and a partial last block of neurons; the gradient of
    spikes.sum() (an expanded scalar, taken as one value) and a dense one of ones give the
    same gradients; and the gradients of the final state alone (none for the spikes)."""
    gen = torch.Generator().manual_seed(11)
    current = torch.randn(200, 25, 600, generator=gen, dtype=dtype) * 0.6 + 0.35
    bias = torch.randn(600, generator=gen, dtype=dtype) * 0.1
    vth = torch.tensor(0.9, dtype=dtype)
    close = {"rtol": 1e-5, "atol": 1e-12 if dtype == torch.float64 else 1e-6}
    ones = torch.ones_like(current)
    ref_spikes, ref = run_both(current, 0.3, 0.2, vth, bias, ones, fused=False)
    spikes, dense = run_both(current, 0.3, 0.2, vth, bias, ones, fused=True)
    assert torch.equal(spikes, ref_spikes) and 0.05 < spikes.mean() < 0.95
    leaves = [t.clone().requires_grad_() for t in (current, vth, bias)]
    lif_sequence(leaves[0], 0.3, 0.2, leaves[1], leaves[2]).sum().backward()
    for expanded, got, expected in zip(leaves, dense, ref):
        assert torch.equal(expanded.grad, got)
        torch.testing.assert_close(got, expected, **close)

    def state_grads(fused: bool) -> list[torch.Tensor]:
        leaves = [t.clone().requires_grad_() for t in (current, vth, bias)]
        if fused:
            _, u, v = fused_lif(leaves[0], 0.3, 0.2, leaves[1], leaves[2], return_state=True)
        else:
            (u, v), _ = loop_trace(leaves[0], 0.3, 0.2, leaves[1], leaves[2])
        (u.sum() + 2 * v.sum()).backward()
        return [leaf.grad for leaf in leaves]

    fused, loop = state_grads(True), state_grads(False)
    assert loop[1] is None and fused[1] == 0  # the state does not depend on vth but at resets
    for index in (0, 2):
        torch.testing.assert_close(fused[index], loop[index], **close)


def test_unsupported_arguments_fall_back_or_are_refused() -> None:
    current = torch.randn(5, 2, 4)
    per_neuron_vth = torch.full((4,), 0.5)
    assert not fused_supported(current, per_neuron_vth, 0.0)
    assert not fused_supported(current.half(), torch.tensor(0.5).half(), 0.0)
    assert not fused_supported(current, torch.tensor(0.5, dtype=torch.float64), 0.0)
    assert not fused_supported(current, torch.tensor(0.5), torch.zeros(4, dtype=torch.float64))
    assert not fused_supported(current[:, 0, 0], torch.tensor(0.5), 0.0)
    assert fused_supported(current, torch.tensor(0.5), 0.0, reset="subtract")  # on the CPU
    assert not fused_supported(current, torch.tensor(0.5), 0.0, reset="leak")
    # lif_sequence takes them through its loop
    out = lif_sequence(current, 0.5, 0.5, per_neuron_vth)
    assert out.shape == current.shape
    with pytest.raises(FusedLIFError, match="fix: use lif_sequence"):
        fused_lif(current, 0.5, 0.5, per_neuron_vth)


def test_lif_module_fused_flag() -> None:
    torch.manual_seed(0)
    fused, loop = LIF(6, du=0.3, dv=0.2, vth=0.8), LIF(6, du=0.3, dv=0.2, vth=0.8, fused=False)
    assert fused.fused and not loop.fused
    current = torch.randn(14, 3, 6) + 0.4
    assert torch.equal(fused(current), loop(current))


def test_hybrid_net_gradients_match_loop(monkeypatch) -> None:
    """Encoder, spiking layer and decoder: every parameter's gradient as with the loop."""

    def grads() -> list[torch.Tensor]:
        torch.manual_seed(7)
        net = HybridNet(
            torch.nn.Linear(8, 16),
            SpikeBoundary(16, steps=6, threshold=0.5),
            SpikingBlock(SpikingLinear(16, 12, du=0.5, dv=0.25, vth=0.6)),
            input_shape=(8,),
            steps=6,
        )
        x = torch.randn(5, 8)
        (net(x).square().sum() + net.sparsity_loss()).backward()
        return [p.grad.clone() for p in net.parameters()]

    fused = grads()
    monkeypatch.setattr(lif_module, "fused_supported", lambda *args: False)
    loop = grads()
    for got, expected in zip(fused, loop):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- building the kernel


def test_kernel_builds_with_its_entry_points() -> None:
    lib = build.cpu_kernel()
    assert hasattr(lib, "lif_forward_f32") and hasattr(lib, "lif_backward_f64")


# ---------------------------------------------------------------- peers


@pytest.mark.parametrize("dv", [0.0, 0.1, 0.5, 4095 / 4096])
def test_same_spikes_as_snntorch_leaky(dv) -> None:
    """Leaky with reset to zero is our LIF with du = 1 (u is the input) and no bias."""
    snn = pytest.importorskip("snntorch")
    gen = torch.Generator().manual_seed(int(dv * 1000))
    current = torch.rand(40, 4, 25, generator=gen) * 1.2
    leaky = snn.Leaky(beta=1.0 - dv, threshold=0.9, reset_mechanism="zero")
    mem = leaky.reset_mem()
    theirs = []
    for a in current:
        spk, mem = leaky(a, mem)
        theirs.append(spk)
    ours = LIF(25, du=1.0, dv=dv, vth=0.9, bias=False)(current).detach()
    assert torch.equal(ours, torch.stack(theirs).detach())
    assert ours.sum() > 10


def test_same_spikes_as_snntorch_synaptic_up_to_each_first_spike() -> None:
    """Synaptic's current (alpha) and voltage (beta) are our u and v; its reset to zero also
    drops the input of the step after a spike, ours does not: they coincide up to and
    including each neuron's first spike."""
    snn = pytest.importorskip("snntorch")
    gen = torch.Generator().manual_seed(2)
    current = torch.rand(50, 3, 30, generator=gen) * 0.4
    synaptic = snn.Synaptic(alpha=0.75, beta=0.5, threshold=1.3, reset_mechanism="zero")
    syn, mem = synaptic.reset_mem()
    theirs = []
    for a in current:
        spk, syn, mem = synaptic(a, syn, mem)
        theirs.append(spk)
    theirs = torch.stack(theirs).detach()
    ours = LIF(30, du=0.25, dv=0.5, vth=1.3, bias=False)(current).detach()
    before_first = (ours.cumsum(0) - ours) == 0  # steps up to each neuron's first spike
    assert ours.sum() > 20 and before_first.float().mean() < 0.9
    assert torch.equal(ours[before_first], theirs[before_first])


@pytest.mark.parametrize("tau", [2.0, 4.0, 8.0])
def test_same_spikes_as_spikingjelly_lifnode(tau) -> None:
    """LIFNode without input decay and hard reset to 0 is our LIF with du = 1, dv = 1/tau;
    with tau a power of two v - v/tau rounds as v * (1 - 1/tau) does."""
    pytest.importorskip("spikingjelly", reason="spikingjelly is not installed")
    from spikingjelly.activation_based import functional, neuron

    gen = torch.Generator().manual_seed(int(tau))
    current = torch.rand(40, 4, 25, generator=gen) * 0.9
    node = neuron.LIFNode(
        tau=tau, decay_input=False, v_threshold=0.95, v_reset=0.0, detach_reset=True,
        step_mode="m",
    )  # fmt: skip
    theirs = node(current).detach()
    functional.reset_net(node)
    ours = LIF(25, du=1.0, dv=1 / tau, vth=0.95, bias=False)(current).detach()
    assert torch.equal(ours, theirs) and ours.sum() > 10
