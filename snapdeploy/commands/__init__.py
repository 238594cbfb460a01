"""One module per `snapdeploy` subcommand; `snapdeploy.cli` registers them on the app."""
