"""Progress bars and messages on the terminal for a run (rich)."""

from __future__ import annotations

import contextlib
import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench.run import RunUI


class RichUI(RunUI):
    def __init__(self, quiet: bool = False):
        # Progress goes to stderr so `--json` output on stdout stays clean.
        self.console = Console(stderr=quiet) if quiet else Console()
        self._progress_console = Console(stderr=True, quiet=quiet)

    def info(self, message: str) -> None:
        self._progress_console.print(f"[dim]{message}[/dim]", highlight=False)

    def warn(self, message: str) -> None:
        """A choice or a doubt the figures depend on: not dimmed like progress."""
        self._progress_console.print(f"[yellow]{escape(message)}[/yellow]", highlight=False)

    @contextlib.contextmanager
    def task(self, description, total):
        bytes_mode = description.startswith("building")
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   DownloadColumn() if bytes_mode else MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=self._progress_console, transient=False,
                      disable=not sys.stderr.isatty() and self._progress_console.quiet) as progress:
            tid = progress.add_task(description, total=total)

            def advance(n, total=None):
                if total is not None:
                    progress.update(tid, total=total)
                progress.advance(tid, n)
            yield advance
