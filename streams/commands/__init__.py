"""The ``digindex`` subcommands, one module each (see ``streams.cli.COMMANDS``)."""
