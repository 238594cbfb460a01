"""Brevitas QAT inside a cut model's dies: every Linear/Conv2d at any depth swapped, fine-tuned,
folded back to plain layers that compute the twin's forward exactly, and deployed equal to the
folded model's integer-boundary forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brevitas.nn import QuantConv2d, QuantLinear
from torch import nn

from snapdeploy.core.errors import ModelStructureError, UnsupportedLayerError
from snapdeploy.flow.deploy import compile_and_run
from snapdeploy.nn import snap_cut
from snapdeploy.quant.brevitas_twin import QuantSpec
from snapdeploy.quant.cut_export import export_cut
from snapdeploy.quant.cut_qat import fold_quantized, quantize_dies, quantized_weights
from snapdeploy.quant.cut_reference import integer_boundary_forward
from snapdeploy.targets import load_target
from tests.cut_models import tiny_gpt, tiny_resnet


def gpt_net():
    torch.manual_seed(0)
    tokens = torch.randint(0, 32, (6, 8))
    return snap_cut(tiny_gpt(), cuts=["block1"], steps=4, example=tokens), tokens


def resnet_net():
    torch.manual_seed(1)
    images = torch.randn(4, 1, 8, 8)
    resnet = tiny_resnet(width=4)
    resnet(images)
    return snap_cut(resnet, cuts=["stage2"], steps=4, example=images), images


def count(net, kinds) -> int:
    return sum(type(m) in kinds for die in net.dies for m in die.modules())


def finetune(twin, x, steps: int = 3) -> None:
    """A few steps of any loss: QAT moves the float weights under their quantizers."""
    opt = torch.optim.Adam(twin.parameters(), 1e-2)
    twin.train()
    for _ in range(steps):
        out = twin(x)
        (out.square().mean() + 0.1 * twin.sparsity_loss()).backward()
        opt.step()
        opt.zero_grad()
    twin.eval()


@pytest.mark.parametrize("make", [gpt_net, resnet_net], ids=["gpt", "resnet"])
def test_every_nested_layer_is_quantized_and_folding_keeps_the_forward(make) -> None:
    net, x = make()
    floats = count(net, (nn.Linear, nn.Conv2d))
    twin = quantize_dies(net, QuantSpec(dense_bits=4))
    assert count(twin, (QuantLinear, QuantConv2d)) == floats > 2
    assert count(twin, (nn.Linear, nn.Conv2d)) == 0
    assert count(net, (nn.Linear, nn.Conv2d)) == floats  # the user's model is not touched
    finetune(twin, x)
    folded = fold_quantized(twin)
    assert count(folded, (QuantLinear, QuantConv2d)) == 0
    with torch.no_grad():
        assert torch.equal(folded(x), twin(x))
    folded_layers = {
        f"die{k}.{name}": module
        for k, die in enumerate(folded.dies)
        for name, module in die.named_modules()
        if type(module) in (nn.Linear, nn.Conv2d)
    }
    weights = quantized_weights(twin)
    assert weights.keys() == folded_layers.keys()
    for name, q in weights.items():
        assert q.bits == 4 and np.abs(q.integers).max() <= 7, name
        expected = torch.from_numpy(q.integers * q.scale).float()
        assert torch.equal(folded_layers[name].weight.detach(), expected), name


def test_the_folded_model_deploys_equal_to_its_integer_boundary_forward(tmp_path) -> None:
    net, tokens = gpt_net()
    twin = quantize_dies(net, QuantSpec(dense_bits=6))
    finetune(twin, tokens)
    folded = fold_quantized(twin).eval()
    graph = export_cut(folded, tokens)
    reference = integer_boundary_forward(folded, graph, tokens)
    _, result = compile_and_run(
        graph, load_target("emulator"), tmp_path / "b", tokens.numpy(), progress=False
    )
    assert np.array_equal(result.outputs, reference.outputs)


def test_refusals_name_the_problem_and_the_fix() -> None:
    net, _ = gpt_net()
    with pytest.raises(ModelStructureError, match="takes a SnapCutNet.*snap_cut"):
        quantize_dies(tiny_gpt(), QuantSpec())
    with pytest.raises(ModelStructureError, match="holds no Brevitas layers"):
        fold_quantized(net)
    torch.manual_seed(3)
    x = torch.randn(2, 4)
    bare = snap_cut(nn.Sequential(nn.ReLU(), nn.Tanh()), cuts=[1], steps=2, example=x)
    with pytest.raises(ModelStructureError, match="nothing for QAT to quantize"):
        quantize_dies(bare, QuantSpec())
    images = torch.randn(2, 1, 6, 6)
    reflect = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), nn.ReLU())
    with pytest.raises(UnsupportedLayerError, match="padding_mode='reflect'"):
        quantize_dies(snap_cut(reflect, cuts=[1], steps=2, example=images), QuantSpec())
    with pytest.raises(Exception, match="dense_bits=1"):
        quantize_dies(net, QuantSpec(dense_bits=1))
