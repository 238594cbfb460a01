"""Every error snapdeploy raises on purpose.

One base class lets the CLI print our errors as one clear line (what, where, the fix) and
leave real bugs to show their traceback. Each message names the problem and what to do.
"""

from __future__ import annotations


class SnapdeployError(Exception):
    """Base of all snapdeploy errors: the message says what is wrong, where, and the fix."""


class ParameterRangeError(SnapdeployError):
    """A parameter does not fit the bit width its layer or device allows."""


class UnsupportedLayerError(SnapdeployError):
    """A model contains a layer snapdeploy cannot export or deploy."""


class ModelStructureError(SnapdeployError):
    """A model's blocks are not arranged as a hybrid network can be (e.g. spikes with no encoder)."""


class SkipConnectionError(ModelStructureError):
    """A die cut is spanned by a skip connection: a value other than the cut's input crosses it."""


class SpikeInputError(SnapdeployError):
    """A model's spike input is not [batch, T, n] of 0/1 values."""


class ArtifactError(SnapdeployError):
    """A .snap file is not an artifact, is corrupt, or has an unsupported schema."""


class InconsistentArtifactError(ArtifactError):
    """An intact artifact or build whose ops disagree with their tensors, their neighbours or
    their plan (a shape, dtype, range, width or step count)."""


class InconsistentBuildError(InconsistentArtifactError):
    """A build directory whose files disagree: with its plan, its partitions' ops, each other."""


class TargetError(SnapdeployError):
    """A target file is missing, malformed, or asks for something no device has."""


class PacketError(SnapdeployError):
    """A spike packet is malformed or failed its CRC check."""


class BackendError(SnapdeployError):
    """A backend cannot compile, load or run a partition."""


class CapacityError(BackendError):
    """A partition asks for more than its device has (neurons, cores, routing entries, bits)."""
