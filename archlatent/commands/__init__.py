"""CLI subcommands beyond the basic ones, one module per topic; each registers with `archlatent.cli.command`."""
