"""Quantization-aware fine-tuning of your own hybrid net on your own data, to a .snap artifact.

    torch.save(my_hybridnet, "mine.pt")     # a snapdeploy HybridNet (float, trained)
    np.savez("data.npz", x_train=..., y_train=..., x_test=..., y_test=...)
    python tools/qat_finetune.py mine.pt --data data.npz --bits 4 --epochs 10 -o mine.snap

The same command as `snapdeploy quantize` (same options, one implementation in
`snapdeploy.flow.qat`); interrupted runs resume from `mine.snap.ckpt`.
"""

from __future__ import annotations

import typer

from snapdeploy.commands.quantize import quantize

if __name__ == "__main__":
    typer.run(quantize)
