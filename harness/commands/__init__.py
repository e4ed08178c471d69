"""One module per ``harness`` subcommand, each with ``add_arguments`` and ``run``."""
