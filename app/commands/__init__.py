"""One module per area of the CLI; `app.cli.COMMANDS` says which command lives where."""
