"""Runtime: load a build directory (see `snapdeploy.compile`) and run it, bridging spike packets."""

from snapdeploy.runtime.deployment import Deployment, RunResult
from snapdeploy.runtime.transport import BoundaryStats, InProcessTransport

__all__ = [
    "BoundaryStats",
    "Deployment",
    "InProcessTransport",
    "RunResult",
]
