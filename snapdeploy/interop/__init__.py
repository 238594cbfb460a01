"""NIR interchange: graphs from snnTorch, Norse and other NIR exporters in, ours out; and
lava-dl netx networks in and out (`read_netx`, `netx.py`: their blocks as our integer layers;
`write_netx`, `netx_writer.py`: our spiking layers as netx blocks).

`read_nir` turns a NIR graph into a `HybridNet` (which `quant.export` takes to a .snap like
any trained model); `to_nir` writes a `HybridNet` as NIR. The neuron mapping (NIR's
continuous time to our discrete LIF) is in `neurons.py`, the graph mapping in `reader.py`.
"""

from snapdeploy.core.extras import needs

with needs("nir", __name__), needs("train", __name__):  # NIR graphs become torch modules here
    import nir  # noqa: F401
    import torch  # noqa: F401

from snapdeploy.interop.errors import NirFormatError, NirGraphError, UnsupportedNirNodeError
from snapdeploy.interop.netx import NetxFormatError, NetxModel, read_netx
from snapdeploy.interop.netx_writer import NetxExportError, write_netx
from snapdeploy.interop.reader import ImportedModel, read_nir
from snapdeploy.interop.writer import spiking_section, to_nir, write_nir

__all__ = [
    "ImportedModel",
    "NetxExportError",
    "NetxFormatError",
    "NetxModel",
    "NirFormatError",
    "NirGraphError",
    "UnsupportedNirNodeError",
    "read_netx",
    "read_nir",
    "spiking_section",
    "to_nir",
    "write_netx",
    "write_nir",
]
