"""Real architectures to cut into dies: a GPT-style byte model (attention, LayerNorm, GELU,
dropout, residuals inside each block) and a residual CNN with BatchNorm, each an
`nn.Sequential` of named stages, the form `snap_cut` takes. The tests and the SNAP evaluation
(tools/snap_eval.py through tools/snap_real.py) build on the same definitions.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F


class Embed(nn.Module):
    def __init__(self, vocab: int, d: int, context: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab, d)
        self.positions = nn.Parameter(torch.randn(context, d) * 0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.tokens(idx) + self.positions[: idx.shape[1]]


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention and a GELU MLP, each residual."""

    def __init__(self, d: int, heads: int, dropout: float = 0.1):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.ln2(x)))


class Head(nn.Module):
    def __init__(self, d: int, vocab: int):
        super().__init__()
        self.ln, self.out = nn.LayerNorm(d), nn.Linear(d, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.ln(x))


def gpt(
    vocab: int = 32,
    d: int = 16,
    heads: int = 2,
    layers: int = 2,
    context: int = 8,
    dropout: float = 0.1,
) -> nn.Sequential:
    """nn.Sequential(embedding, *blocks, head) with named stages."""
    stages = {"embed": Embed(vocab, d, context)}
    stages.update({f"block{i}": Block(d, heads, dropout) for i in range(layers)})
    stages["head"] = Head(d, vocab)
    return nn.Sequential(OrderedDict(stages))


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


def resnet(classes: int = 10, width: int = 8) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            stem=nn.Sequential(
                nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
            ),
            stage1=ResBlock(width, width),
            stage2=ResBlock(width, 2 * width, stride=2),
            head=nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes)
            ),
        )
    )
