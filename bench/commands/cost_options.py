"""The cost options `bench run`, `bench results` and `bench dashboard` share, and the settings
they make. Defined once so the three commands spell and check them the same way."""

from __future__ import annotations

import click

from dashboards.cost import DEFAULT_RATIO
from dashboards.profiles import BASES


def cost_options(breakeven: bool = False):
    """Decorator adding the cost options (and --breakeven) to a click command."""
    options = [
        click.option("--hourly-cost", type=float, default=None, metavar="USD",
                     help="Cost basis: this machine's price per hour (your rent or your own figure), instead of the "
                          "preset chosen for the detected hardware."),
        click.option("--capex", type=float, default=None, metavar="USD",
                     help="Cost basis: the machine's purchase price, amortised straight-line over --years, plus "
                          "electricity at the run's measured power."),
        click.option("--years", type=float, default=None, help="Amortisation of --capex, in years. [default: 3]"),
        click.option("--usd-per-kwh", type=float, default=None,
                     help="Electricity tariff, for owned machines and the electricity-only figure. [default: the "
                          "profile's, else 0.15, said to be assumed]"),
        click.option("--utilisation", type=float, default=None,
                     help="Busy fraction of the hours the machine is held, in (0, 1]. [default: the profile's, else 1]"),
        click.option("--basis", type=click.Choice(BASES), default="on_demand", show_default=True,
                     help="Cloud price basis (reserved: a 1-year commitment for the per-vCPU presets)."),
        click.option("--ratio", type=float, default=DEFAULT_RATIO, show_default=True,
                     help="Output:input cost ratio r: an input token costs 1/r of an output token."),
    ]
    if breakeven:
        options.append(click.option("--breakeven", is_flag=True,
                                    help="Also print the monthly token volume above which this machine costs less "
                                         "than each API row."))

    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


def cost_settings(options: dict):
    """(CostSettings, breakeven flag) from the options' values; a bad combination is a DashboardError."""
    from dashboards.rows import CostSettings

    return CostSettings(ratio=options["ratio"], basis=options["basis"], utilisation=options["utilisation"],
                        usd_per_kwh=options["usd_per_kwh"], hourly_cost=options["hourly_cost"],
                        capex=options["capex"], years=options["years"]), bool(options.get("breakeven"))
