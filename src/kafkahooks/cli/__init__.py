"""The ``kafkahooks`` command: argument parsing and the commands."""

from kafkahooks.cli.main import main

__all__ = ["main"]
