"""`bench prices` and `bench dashboard`. Plotly is imported only while a site is built."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from bench.commands.cost_options import cost_options
from dashboards.prices import DEFAULT_MAX_AGE_DAYS

_FILE = click.Path(path_type=Path, dir_okay=False)


def _usd(v: float | None) -> str:
    return "-" if v is None else f"{v:,.4g}"


def _auto_match(p) -> str:
    """Which detected hardware gets this profile without --profile, in words."""
    if p.fallback:
        return "any CPU machine no other preset fits"
    if p.apple_chip:
        return f"Apple {p.apple_chip}, else the closest of its tier"
    if p.match_cpu:
        m = p.match_cpu
        return " ".join(x for x in (m.get("vendor", "").split("|")[0], m.get("arch", "").split("|")[0],
                                   "+".join(m.get("isa", [])),
                                   "{}-{} threads".format(*m["threads"]) if "threads" in m else "") if x)
    return p.match or "only with --profile"


@click.command("prices")
@click.option("--prices", "prices_file", type=_FILE, default=None,
              help="JSON or CSV price rows that add to the built-in table or replace rows with the same "
                   "provider and model (fields: model, provider, input, cached_input, output, observed, source).")
@click.option("--profiles", "show_profiles", is_flag=True, help="List the hardware cost profiles instead.")
@click.option("--profiles-file", type=_FILE, default=None,
              help="JSON or CSV cost profiles that add to or replace the presets (see --profiles).")
@click.option("--max-age-days", type=click.IntRange(min=1), default=DEFAULT_MAX_AGE_DAYS, show_default=True,
              help="Warn about price rows observed longer ago than this.")
@click.option("--update", "update_file", type=_FILE, default=None,
              help="Merge these dated rows (JSON or CSV, the --prices fields) into your own price table, kept "
                   "across runs and used by every command (at $RIGHTSIZE_PRICES, else ~/.config/rightsize/prices.json).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def prices_command(prices_file, show_profiles, profiles_file, max_age_days, update_file, as_json):
    """API prices per 1M tokens (dated, sourced), or the hardware cost profiles."""
    from rich.console import Console, JustifyMethod
    from rich.table import Table

    from dashboards.prices import load_prices, merge_into_store, staleness_warning
    from dashboards.profiles import load_profiles

    if update_file is not None:
        merged = merge_into_store(update_file)
        click.echo(f"merged {update_file} into {merged.store}: {len(merged.added)} added, {len(merged.replaced)} "
                   f"replaced" + (f", {len(merged.kept)} kept (the stored row was observed later: "
                                  + ", ".join(f"{p.provider} {p.model} {p.observed}" for p in merged.kept) + ")"
                                  if merged.kept else ""))
        return

    if show_profiles:
        profiles = load_profiles(profiles_file)
        if as_json:
            click.echo(json.dumps([p.to_dict() for p in profiles.values()], indent=2))
            return
        table = Table(title=f"{len(profiles)} cost profiles (USD); sources below")
        for col in ("name", "kind", "price", "power", "auto-match"):
            table.add_column(col, overflow="fold", no_wrap=col in ("name", "kind"))
        for p in profiles.values():
            if p.kind == "cloud" and p.per_resource:
                v, g = p.usd_per_vcpu_hour, p.usd_per_gib_hour
                assert v is not None and g is not None, "profiles.py loads the two tables together"
                price = "; ".join(f"{b.replace('_', '-')} {_usd(v[b])} per vCPU-hour + {_usd(g[b])} per GiB-hour"
                                  for b in v if v[b] is not None)
                power = "included"
            elif p.kind == "cloud":
                h = p.usd_per_hour or {}
                price = (f"on-demand {_usd(h.get('on_demand'))}, spot {_usd(h.get('spot'))}, reserved "
                         f"{_usd(h.get('reserved'))} per {'GPU-' if p.per_gpu else 'machine-'}hour")
                power = "included"
            else:
                price = f"{_usd(p.purchase_usd)} over {p.amortisation_months:g} months"
                power = (f"idle {_usd(p.idle_watts)} W, busy {_usd(p.active_watts)} W (the run's measurement "
                         f"first); {_usd(p.electricity_usd_per_kwh)} $/kWh, PUE {p.pue:g}")
            table.add_row(p.name, p.kind, price, power, _auto_match(p))
        console = Console()
        console.print(table)
        for p in profiles.values():
            console.print(f"[bold]{p.name}[/]: {p.title}. {p.source}" + (f". {p.note}" if p.note else ""),
                          highlight=False, markup=True)
        return

    today = dt.date.today()
    rows = load_prices(prices_file)
    warning = staleness_warning(rows, today, max_age_days)
    if as_json:
        click.echo(json.dumps([p.to_dict(today) for p in rows], indent=2))
    else:
        table = Table(title=f"{len(rows)} API prices, USD per 1M tokens (blended = (3 x input + output) / 4)")
        columns: tuple[tuple[str, JustifyMethod, int], ...] = (
            ("provider", "left", 9), ("model", "left", 12), ("input", "right", 5), ("cached", "right", 6),
            ("output", "right", 6), ("blended", "right", 7), ("observed", "left", 10))
        for col, justify, width in columns:
            table.add_column(col, justify=justify, min_width=width, overflow="fold")
        console = Console()
        wide = console.width >= 120          # the sources need room; --json always has them
        if wide:
            table.add_column("source", overflow="ellipsis", no_wrap=True, max_width=44)
        for row in rows:
            age = row.age_days(today)
            stale = age is None or age > max_age_days
            observed = (row.observed or "undated") + (" [yellow](old)[/]" if stale and age is not None else "")
            cells = [row.provider, row.model, _usd(row.input), _usd(row.cached_input), _usd(row.output),
                     f"{row.blended:,.4g}", observed]
            table.add_row(*cells, *([row.source.split()[0] + ("" if row.origin == "built-in" else f" ({row.origin})")]
                                    if wide else []))
        console.print(table)
        if not wide:
            console.print("(sources hidden in a narrow terminal: widen it, or use --json)")
    if warning:
        click.echo(f"warning: {warning}", err=True)


@click.command("dashboard")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), default=Path("site"),
              show_default=True, help="Directory for the site (index.html).")
@click.option("--profile", "profile_choices", multiple=True, metavar="LABEL=NAME",
              help="Cost profile for the machine with this label, e.g. vm=cpu-server (repeatable). "
                   "Without one, the detected GPU, Apple chip or CPU gets the closest preset, else its vCPUs and "
                   "RAM are priced at cloud rates.")
@click.option("--profiles-file", type=_FILE, default=None, help="JSON or CSV cost profiles to add or override.")
@click.option("--prices", "prices_file", type=_FILE, default=None, help="JSON or CSV API price rows to add or override.")
@click.option("--max-age-days", type=click.IntRange(min=1), default=DEFAULT_MAX_AGE_DAYS, show_default=True,
              help="Flag API prices observed longer ago than this.")
@click.option("--candidates", default=None, metavar="IDS",
              help="Comma-separated hardware ids (bench project --list) to show PROJECTED beside the measured "
                   "machines, in a section of their own.")
@click.option("--size", "sizes", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="A bench size document (bench size -o FILE): a 'What to buy' section for its demand; repeat for "
                   "more demands.")
@cost_options()
def dashboard_command(paths, output, profile_choices, profiles_file, prices_file, max_age_days, candidates, sizes,
                      **cost):
    """Build a static comparison site from result files and directories (works offline)."""
    from bench.commands.cost_options import cost_settings
    from dashboards.site import build_site, count_machines

    settings, _ = cost_settings(cost)
    site = build_site(list(paths), output, settings=settings, max_age_days=max_age_days,
                      prices_file=prices_file, profiles_file=profiles_file, profile_choices=profile_choices,
                      candidates=[c.strip() for c in (candidates or "").split(",") if c.strip()], sizes=list(sizes))
    for w in site.warnings:
        click.echo(f"warning: {w}", err=True)
    machines = count_machines(site.rows)
    priced = sum(1 for r in site.rows if r["cost"])
    click.echo(f"site: {site.index} ({len(site.rows)} result(s) from {machines} machine(s), {priced} priced)")
    for r in site.rows:
        if r["cost"] is None:
            click.echo(f"  {r['name']}: cost n/a ({r['cost_na']})")
