"""The language task's data: next-character prediction on the Python standard library's own
source, text every Python installation ships, so the evaluation needs no download.

The corpus is the `.py` files directly in the stdlib directory (`sysconfig`'s 'stdlib'
path), in sorted name order, concatenated; the first `train_chars` characters are for
training and the next `test_chars` for testing. It differs between Python versions, so
results name the version. Characters are the 95 printable ASCII ones plus newline; any
other character maps to one shared class.
"""

from __future__ import annotations

import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snapdeploy.core.errors import SnapdeployError

ALPHABET = "\n" + "".join(chr(c) for c in range(32, 127))
OTHER = len(ALPHABET)  # the class of every character outside ALPHABET
VOCAB = len(ALPHABET) + 1


@dataclass(frozen=True)
class CharTask:
    """One-hot contexts [N, context * VOCAB] and the index of the character that follows."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    context: int
    source: str


def stdlib_text(chars: int) -> str:
    """The first `chars` characters of the concatenated top-level stdlib sources."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, total = [], 0
    for path in sorted(root.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        total += len(text)
        if total >= chars:
            return "".join(parts)[:chars]
    raise SnapdeployError(
        f"the stdlib sources in {root} hold {total} characters, fewer than the {chars} asked "
        f"for; fix: ask for fewer characters"
    )


def encode(text: str) -> np.ndarray:
    lookup = np.full(0x110000, OTHER, dtype=np.int64)
    lookup[[ord(c) for c in ALPHABET]] = np.arange(len(ALPHABET))
    return lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)]


def one_hot_contexts(codes: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Each window of `context` characters as concatenated one-hot vectors, and its successor."""
    n = len(codes) - context
    windows = np.lib.stride_tricks.sliding_window_view(codes, context)[:n]
    x = np.zeros((n, context, VOCAB), dtype=np.float32)
    np.put_along_axis(x, windows[..., None], 1.0, axis=2)
    return x.reshape(n, context * VOCAB), codes[context:]


def char_task(train_chars: int, test_chars: int, context: int = 8) -> CharTask:
    codes = encode(stdlib_text(train_chars + test_chars))
    x_train, y_train = one_hot_contexts(codes[:train_chars], context)
    x_test, y_test = one_hot_contexts(codes[train_chars:], context)
    source = (
        f"Python {sys.version_info.major}.{sys.version_info.minor} stdlib *.py "
        f"(sorted, first {train_chars}+{test_chars} characters)"
    )
    return CharTask(x_train, y_train, x_test, y_test, context, source)


def bits_per_char(scores: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of the scores' softmax at the true characters, in bits."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean() / np.log(2.0))
