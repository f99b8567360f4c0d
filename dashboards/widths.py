"""Tables that fit the terminal they print on.

Given a table too wide for the console, rich narrows its widest wrapping columns evenly, whatever
their words, and cuts what no longer fits with "…": a header becomes "validi…", a figure
"13,801.…". A table here comes instead in layouts, widest first (one line per cell; headers on
two lines; figures stacked; a table split in two), whose cells do not wrap, and the console's
width picks the first that fits: at 80 columns nothing is cut, and a wide terminal gets the
one-line form. The last layout may still fold its cells (never cut them) on a console too narrow
for any; lines that explain the table print under it, wrapped at the console's width.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.text import Text

UNBOUNDED = 100_000


def natural_width(console: Console, options: ConsoleOptions, renderable: RenderableType) -> int:
    """The width `renderable` takes when nothing constrains it: each cell on its own lines."""
    return Measurement.get(console, options.update_width(UNBOUNDED), renderable).maximum


class FirstThatFits:
    """Prints the first of `layouts` (widest first) whose natural width fits the console, or the
    last one (the narrowest) when none does; then `notes`, one or more lines each. A layout may
    be a (renderable, notes of its own) pair: what it leaves out of its columns, said under it."""

    def __init__(self, *layouts: RenderableType | tuple[RenderableType, list[str]], notes: list[str] | None = None):
        if not layouts:
            raise ValueError("FirstThatFits needs at least one layout")
        self.layouts = [layout if isinstance(layout, tuple) else (layout, []) for layout in layouts]
        self.notes = list(notes or [])

    def chosen(self, console: Console, options: ConsoleOptions) -> tuple[RenderableType, list[str]]:
        for layout in self.layouts[:-1]:
            if natural_width(console, options, layout[0]) <= options.max_width:
                return layout
        return self.layouts[-1]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        layout, own = self.chosen(console, options)
        yield layout
        if self.notes or own:
            yield Text("\n".join(self.notes + own))     # Text, not markup: a reason may hold brackets

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.chosen(console, options)[0])
