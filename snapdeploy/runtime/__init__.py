"""Runtime: compile a plan into a build directory and run it, bridging spike packets."""

from snapdeploy.runtime.build import compile_graph, compile_plan
from snapdeploy.runtime.deployment import Deployment, RunResult
from snapdeploy.runtime.transport import BoundaryStats, InProcessTransport

__all__ = [
    "BoundaryStats",
    "Deployment",
    "InProcessTransport",
    "RunResult",
    "compile_graph",
    "compile_plan",
]
