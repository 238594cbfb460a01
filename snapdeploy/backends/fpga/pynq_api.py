"""pynq, imported once, quietly: its pynqutils still imports the deprecated pkg_resources.

Without a board every pynq entry point that looks for one raises `No Devices Found`; the
emulated device of `overlay.py` is handed to pynq explicitly, so nothing here probes.
"""

from __future__ import annotations

import warnings

from snapdeploy.core.extras import needs

with needs("fpga", __name__), warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*pkg_resources.*")
    import pynq
    from pynq.buffer import PynqBuffer
    from pynq.overlay import DefaultIP

__all__ = ["DefaultIP", "PynqBuffer", "pynq"]
