"""The dashboards' user-facing error: a bad price table, cost profile or dashboard option."""

from contract.errors import BenchError


class DashboardError(BenchError):
    """Printed by the CLI as one line, `error: <problem> (<fix>)`, with a non-zero exit."""
