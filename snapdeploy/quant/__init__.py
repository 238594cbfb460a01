"""Quantization: export of trained torch models to integers, Brevitas QAT and its fine-tuning."""

from snapdeploy.core.extras import needs

with needs("train", __name__):  # every module here is torch: name the extra before any of them
    import torch  # noqa: F401
