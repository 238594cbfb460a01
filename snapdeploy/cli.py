"""The `snapdeploy` command line (typer + rich).

Each subcommand lives in its own module under `snapdeploy.commands`; this file only builds
the app. Our own errors print as one line naming the problem and the fix, and exit 1;
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import typer

from snapdeploy.commands import (
    compile,
    demo,
    deploy,
    export_nir,
    import_nir,
    inspect,
    quantize,
    report,
    run,
    serve,
    synth,
    train,
)
from snapdeploy.commands.common import GuardedGroup, debug_mode

app = typer.Typer(
    cls=GuardedGroup, add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0]
)


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors.")) -> None:
    """Deploy hybrid ANN/SNN models across GPU, Lava, FPGA and many-core hardware."""
    debug_mode["on"] = debug


app.command()(demo.demo)
app.command()(inspect.inspect)
app.command(name="compile")(compile.compile_command)
app.command()(run.run)
app.command()(deploy.deploy)
app.command()(train.train)
app.command()(quantize.quantize)
app.command("import")(import_nir.import_nir)
app.command("export")(export_nir.export_nir)
app.command()(report.report)
app.command()(synth.synth)
app.command()(serve.serve)
