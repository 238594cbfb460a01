"""The end-to-end flow as library functions: train in float, export to integers, save the .snap,
compile it for a target, run it, report. `snapdeploy demo`, `train` and `quantize` and the
tools call these rather than stringing the stages together themselves.

The flow sits above every stage it joins (nn, quant, artifact, compile, runtime, report) and
below the commands, so no stage imports a later one. `snapdeploy.flow.qat` (the QAT flow) is
imported on its own: it needs the optional Brevitas extra, which the demo does not.
"""

from snapdeploy.flow.demo import DemoConfig, run_demo, train_demo
from snapdeploy.flow.deploy import ReferenceScore, compile_and_run, reference_score

__all__ = [
    "DemoConfig",
    "ReferenceScore",
    "compile_and_run",
    "reference_score",
    "run_demo",
    "train_demo",
]
