"""User-facing errors: one line that names the problem and the fix.

The CLI prints `str(error)` without a traceback (unless --debug) and exits non-zero.
"""


class BenchError(Exception):
    """An error the user can act on. `hint` says how to fix it."""

    exit_code = 2

    def __init__(self, problem: str, hint: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} ({self.hint})" if self.hint else self.problem


class ModelError(BenchError):
    """Unknown model, missing/truncated/corrupt model file, unknown quant type."""


class ScenarioError(BenchError):
    """Unknown scenario or bad scenario parameter."""


class ResultsError(BenchError):
    """Results directory not writable, result file unreadable."""


class BackendError(BenchError):
    """Engine missing or failed to load/run."""
