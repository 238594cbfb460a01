"""What a core keeps in its DTCM, counted to size slices and to refuse what cannot fit.

A SpiNNaker 1 core has 64 KiB of data TCM. sPyNNaker keeps there each neuron's state, the
synaptic input ring buffers (one slot per step of delay the core handles, a power of two of
them) and, for its local-only convolution, the kernel as 16-bit weights. Counted here: u and v
(4 bytes each), 4-byte ring slots (our sums reach 2**24, past sPyNNaker's 16-bit slots), 2
bytes per kernel weight. Code, stack and runtime tables are left out, so a slice's figure is
an estimate from below of what a real core would use.

Ring slots follow sPyNNaker's rule: a ring is indexed by MAX_RING_BUFFER_BITS bits shared
between the neuron index and the delay (one synapse type here, as our sums are signed), so a
core of 256 neurons holds delays up to 63 steps and one of 1024 up to 15; longer delays go
through delay-extension cores (`delay_extension`).
"""

from __future__ import annotations

from snapdeploy.backends.spinnaker.conv_slicing import conv_of, kernel_weights
from snapdeploy.backends.spinnaker.keys import bits_for
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.errors import CapacityError
from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.targets.spec import SpiNNakerDevice

DTCM_BYTES = 64 * 1024
#: sPyNNaker's ring buffer index width (neuron, synapse type and delay bits together).
MAX_RING_BUFFER_BITS = 14
STATE_BYTES = 8
RING_SLOT_BYTES = 4
KERNEL_WEIGHT_BYTES = 2


def ring_slots(layer: LifLayerParams | ConvLayerParams, width: int) -> int:
    """Slots of the input ring of each of `width` neurons: one without delays, else the power
    of two that holds the buffer's depth (the longest delay plus one), at most what the ring
    index leaves beside the neuron bits."""
    depth = getattr(layer, "delay_depth", 0)
    if depth == 0:
        return 1
    delay_bits = min((depth - 1).bit_length(), MAX_RING_BUFFER_BITS - bits_for(width))
    return 1 << max(delay_bits, 0)


def kernel_bytes(layer: LifLayerParams | ConvLayerParams, width: int) -> int:
    """Bytes of the conv kernel a core of `width` neurons keeps (0 for a Dense layer)."""
    conv = conv_of(layer)
    return 0 if conv is None else kernel_weights(conv, width) * KERNEL_WEIGHT_BYTES


def dtcm_bytes(layer: LifLayerParams | ConvLayerParams, width: int, ring: int) -> int:
    """DTCM of a core running `width` neurons of `layer` with rings of `ring` slots (an
    estimate, see the docstring)."""
    return width * (STATE_BYTES + ring * RING_SLOT_BYTES) + kernel_bytes(layer, width)


def widest_slice(
    name: str, layer: LifLayerParams | ConvLayerParams, device: SpiNNakerDevice, most: int
) -> int:
    """The most neurons, up to `most`, of `layer` whose state, rings (as wide as a slice that
    wide gets) and kernel fit one core's DTCM; refused with both numbers where one output
    channel does not fit. Narrower slices can get longer rings, so this searches down."""
    width = most
    while width > 0 and dtcm_bytes(layer, width, ring_slots(layer, width)) > DTCM_BYTES:
        width -= 1
    if width == 0:
        raise CapacityError(
            f"layer '{name}': one output channel needs {dtcm_bytes(layer, 1, 1)} bytes of DTCM "
            f"(its {kernel_bytes(layer, 1)}-byte kernel slice, state and input) but a core of "
            f"device '{device.name}' holds {DTCM_BYTES}; fix: fewer input channels per group "
            f"or a smaller kernel"
        )
    return width
