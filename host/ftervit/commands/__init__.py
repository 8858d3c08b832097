"""One module per `ftervit` subcommand; see ftervit.cli."""
