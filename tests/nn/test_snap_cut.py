"""Cutting real architectures into dies with spike boundaries (snapdeploy.nn.snap_cut)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch
from torch import nn

from snapdeploy.core.errors import ModelStructureError, SkipConnectionError
from snapdeploy.nn import CutBoundary, SnapCutNet, snap_cut
from snapdeploy.nn.cut_boundary import from_rows, to_rows
from snapdeploy.nn.lif import lif_sequence
from tests.cut_models import LongSkip, tiny_gpt, tiny_resnet


@pytest.fixture
def tokens() -> torch.Tensor:
    return torch.randint(0, 32, (3, 8), generator=torch.Generator().manual_seed(1))


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(4, 1, 12, 12, generator=torch.Generator().manual_seed(2))


def test_gpt_cut_into_three_dies_is_the_model_when_dense(tokens):
    torch.manual_seed(0)
    gpt = tiny_gpt(layers=3).eval()
    net = snap_cut(gpt, cuts=[1, "block2"], steps=4, example=tokens).eval()
    assert isinstance(net, SnapCutNet) and net.cuts == ["block0", "block2"]
    assert [list(dict(d.named_children())) for d in net.dies] == [
        ["embed"],
        ["block0", "block1"],
        ["block2", "head"],
    ]
    assert torch.equal(net.set_spiking(False)(tokens), gpt(tokens))
    spiking = net.set_spiking(True)(tokens)
    assert spiking.shape == (3, 8, 32) and not torch.equal(spiking, gpt(tokens))
    # The residual stream is signed: two spike channels per value, per token.
    assert all(b.signed and b.channels == 16 for b in net.boundaries)
    assert net.boundaries[0].encoder.n == 32


def test_cut_gpt_trains_through_the_spikes(tokens):
    torch.manual_seed(0)
    net = snap_cut(tiny_gpt(), cuts=["block1"], steps=4, example=tokens)
    logits = net(tokens)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), tokens.flatten())
    (loss + 0.1 * net.sparsity_loss()).backward()
    embed = net.dies[0].embed.tokens.weight
    assert embed.grad is not None and embed.grad.abs().sum() > 0  # through the boundary
    assert net.boundaries[0].encoder.log_threshold.grad != 0
    assert 0 < net.sparsity_loss().item() < 1


def test_cut_encoders_train_on_the_surrogate_unless_told(tokens):
    """A cut's encoder passes back the LIF's surrogate gradient by default, the coded
    rate's on request (nn.boundary says when that matters)."""
    torch.manual_seed(0)
    surrogate = snap_cut(tiny_gpt(), cuts=["block1"], steps=4, example=tokens)
    rate = snap_cut(tiny_gpt(), cuts=["block1"], steps=4, example=tokens, gradient="rate")
    assert rate.boundaries[0].encoder.gradient == "rate"
    assert surrogate.boundaries[0].encoder.gradient == "surrogate"


def test_boundary_codes_each_token_alone(tokens):
    """Spikes per token over d channels: a token's spikes do not depend on its neighbours."""
    boundary = CutBoundary(channels=6, steps=5, signed=True, threshold=0.5)
    x = torch.randn(2, 7, 6)
    spikes = boundary.encode(x)
    assert spikes.shape == (5, 14, 12)
    alone = boundary.encode(x[1:, 3:4])
    assert torch.equal(spikes[:, 1 * 7 + 3], alone[:, 0])
    # the fused kernel and the readable step loop agree on the boundary's layout
    rows = torch.cat([to_rows(x).clamp(min=0), (-to_rows(x)).clamp(min=0)], -1)
    current = rows.unsqueeze(0).expand(5, *rows.shape)
    loop = lif_sequence(current, 1.0, 0.0, boundary.encoder.threshold, fused=False)
    assert torch.equal(spikes, loop)


@pytest.mark.parametrize("shape", [(3, 5), (2, 4, 6), (2, 3, 4, 5)])
def test_rows_round_trip(shape):
    x = torch.randn(shape)
    rows = to_rows(x)
    channels = shape[1] if len(shape) != 3 else shape[2]
    assert rows.shape[-1] == channels
    assert torch.equal(from_rows(rows, shape), x)


def test_boundary_is_near_identity_at_init():
    """Threshold at the 99th |x| percentile and decoder scale threshold / T: counts decode
    back to the activation within one threshold step."""
    x = torch.rand(64, 8) * 2
    boundary = CutBoundary(channels=8, steps=8, signed=False, threshold=2.0)
    assert (boundary(x) - x).abs().max() <= 2.0 / 8 * 4


def test_resnet_cut_keeps_batchnorm_stats_and_codes_channels_per_pixel(images):
    torch.manual_seed(0)
    resnet = tiny_resnet()
    stats = {k: v.clone() for k, v in resnet.state_dict().items() if "running" in k}
    net = snap_cut(resnet, cuts=[2, "head"], steps=4, example=images)
    for key, value in resnet.state_dict().items():
        if key in stats:  # calibration ran in eval mode: BatchNorm saw nothing
            assert torch.equal(value, stats[key]), key
    assert resnet.training and net.training
    assert [(b.channels, b.signed) for b in net.boundaries] == [(8, False), (16, False)]
    out = net(images)
    assert out.shape == (4, 10)
    spikes = net.boundaries[1].encode(torch.rand(4, 16, 6, 6))
    assert spikes.shape == (4, 4 * 6 * 6, 16)
    net.eval()
    assert torch.equal(net.set_spiking(False)(images), resnet.eval()(images))


def test_hidden_spiking_layers_inside_a_boundary(images):
    torch.manual_seed(0)
    net = snap_cut(tiny_resnet(), cuts=["stage2"], steps=3, example=images, hidden=(4,))
    layers = net.boundaries[0].layers
    assert [(layer.synapse.in_features, layer.synapse.out_features) for layer in layers] == [
        (8, 4),
        (4, 8),
    ]
    net(images).sum().backward()
    assert len(net.boundaries[0].rates()) == 3
    assert layers[0].synapse.weight.grad is not None


def test_skip_connection_across_a_cut_is_refused_by_name():
    x = torch.randn(2, 8)
    with pytest.raises(SkipConnectionError, match=r"stage 'tail'.*stage 'stem'.*'add'"):
        snap_cut(LongSkip(), cuts=["tail"], steps=4, example=x)
    # before `middle` only `stem`'s output crosses, and the other die uses it twice
    model = LongSkip().eval()
    net = snap_cut(model, cuts=["middle"], steps=4, example=x).set_spiking(False)
    assert torch.equal(net(x), model(x))


def test_skip_from_the_model_input_is_refused():
    class InputSkip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            return self.b(self.a(x)) + x

    with pytest.raises(SkipConnectionError, match="model input 'x'"):
        snap_cut(InputSkip(), cuts=["b"], steps=2, example=torch.randn(2, 4))


@pytest.mark.parametrize(
    "cuts, message",
    [
        ([0], r"lies in 1\.\.3"),
        ([4], r"lies in 1\.\.3"),
        (["nope"], "names no stage"),
        (["head", "block0"], "in the order"),
        ([2, 2], "distinct"),
        ([], "no cuts"),
    ],
)
def test_bad_cuts_are_refused(tokens, cuts, message):
    with pytest.raises(ModelStructureError, match=message):
        snap_cut(tiny_gpt(), cuts=cuts, steps=4, example=tokens)


def test_a_cut_where_no_single_tensor_flows_is_refused():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    class Take(nn.Module):
        def forward(self, pair):
            return pair[0]

    with pytest.raises(ModelStructureError, match="not a float tensor"):
        snap_cut([Pair(), Take()], cuts=[1], steps=2, example=torch.randn(2, 3))
    with pytest.raises(ModelStructureError, match=r"shape \(2, 1, 1, 1, 3\)"):
        snap_cut(
            [nn.Unflatten(1, (1, 1, 1, 3)), nn.Identity()],
            cuts=[1],
            steps=2,
            example=torch.randn(2, 3),
        )


def test_untraceable_forward_is_refused_with_the_fix():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            y = self.a(x)
            return self.b(y) if y.sum() > 0 else y

    with pytest.raises(ModelStructureError, match="nn.Sequential"):
        snap_cut(Branchy(), cuts=["b"], steps=2, example=torch.randn(1, 2))


def test_the_readme_example_runs(tmp_path):
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("**Cutting any model into dies (SNAP).**") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("\n```", start)]
    (tmp_path / "example.py").write_text(code)
    scope = runpy.run_path(str(tmp_path / "example.py"))
    assert isinstance(scope["net"], SnapCutNet) and scope["loss"].item() > 0


def test_stage_spikes_end_at_what_the_decoder_takes_and_the_link_is_the_narrowest(tokens):
    torch.manual_seed(0)
    net = snap_cut(tiny_gpt(layers=2), cuts=[2], steps=3, example=tokens, hidden=(4,)).eval()
    boundary = net.boundaries[0]
    hidden = net.dies[0](tokens)
    stages = boundary.stage_spikes(hidden)
    assert [s.shape[-1] for s in stages] == [32, 4, 32] and boundary.link_stage == 1
    assert torch.equal(boundary(hidden), boundary.decode(stages[-1], hidden.shape))
    plain = snap_cut(tiny_gpt(layers=2), cuts=[2], steps=3, example=tokens).boundaries[0]
    assert plain.link_stage == 0
