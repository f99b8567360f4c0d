"""`bench dashboard`: many result files -> one static site that works offline from file://.

The site is a single index.html: plotly.js inlined once, the rows as a JSON data block, and
dashboard.js drawing the table and charts in the browser so the filters can redraw them.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from contract.build import utc_now
from contract.result import Outcome
from contract.storage import result_files
from dashboards.errors import DashboardError
from dashboards.figures import hardware_words, shared_labels
from dashboards.groups import disambiguate, group_rows
from dashboards.page import STATIC, document, esc
from dashboards.page_data import VERSION as PAGE_DATA_VERSION
from dashboards.prices import DEFAULT_MAX_AGE_DAYS, load_prices, stale_headline, staleness_warning
from dashboards.profiles import load_profiles
from dashboards.reading import Read, RowInputs, read_all, skipped
from dashboards.rows import CostSettings, check_apis, compare_apis, parse_profile_choices

# One line each: what the chart shows and how it was measured.
CHARTS = [
    ("chart-cost", "Cost per 1M tokens next to API prices",
     "Blended $ per 1M tokens (3 input : 1 output), log scale. A self-hosted bar is the machine-hour cost "
     "at the stated utilisation divided by the throughput of the run's best valid request scenario, input "
     "tokens priced at 1/r of output tokens; grey bars are API list prices from the price table below, orange "
     "ones serve the same model as a result on this page. A pale bar rests on an INVALID measurement (no valid "
     "request scenario in that run): measure again before relying on it."),
    ("chart-pareto", "Throughput against latency, per machine and quantization",
     "Aggregate output tokens/s against the median time per output token (TPOT) of each request scenario, both "
     "timed by the harness clock (time.perf_counter_ns) around every token; log scales. The dotted line joins "
     "a Pareto front per model over the valid points (no other point of that model is both quicker per token "
     "and higher in throughput); crosses are INVALID measurements, left off the front."),
    ("chart-interactivity", "Throughput per accelerator against tokens/s per user",
     "The axes of the published per-accelerator curves (SemiAnalysis InferenceMAX): aggregate output tokens/s "
     "of each valid request scenario divided by the machine's GPUs (a CPU machine or a Mac counts as one box), "
     "against the tokens/s one user sees, 1000 / its median TPOT in ms; one line per machine, model, quant and "
     "workload, through its load levels. Run --scenario fixed-1k1k (or fixed-1k8k, fixed-8k1k) for the "
     "input/output pairs those curves use."),
    ("chart-quant", "Decode tokens/s by quantization and machine",
     "Mean of the measured repetitions of the tg<N> microbenchmark (llama-bench semantics: N single-token "
     "decodes from one start token, warmup excluded), one bar colour per quantization."),
    ("chart-energy", "Joules per output token",
     "Energy over the measured passes of the scenario that drives cost (else tg<N>) divided by its output "
     "tokens. Solid bars come from an energy counter or integrated power samples; hatched orange bars are "
     "estimates (TDP x CPU utilisation), not measurements."),
    ("chart-memory", "Memory footprint",
     "The model file size, the peak resident memory of the benchmark process and its children (sampled every "
     "0.5 s during the run) and, where NVML reports it, peak GPU memory, in GiB."),
    ("chart-bandwidth", "Bandwidth efficiency",
     "Measured decode tokens/s divided by the roofline ceiling: memory bandwidth / bytes read per token "
     "(weights + KV cache at the scenario's mean context), against the bandwidth measured on the machine "
     "(STREAM-like probe) and against the spec sheet where one is known."),
    ("chart-accuracy", "Task accuracy against $ per 1,000 tasks",
     "bench eval: the share of your tasks answered right (bars: Wilson 95% interval) against $ per 1,000 of them, "
     "one point per model x quant x machine (circles: priced on that machine's basis from the measured seconds per "
     "task, tasks one at a time) and per hosted API model (diamonds: its list price at the measured tokens per "
     "task). The dotted line is the Pareto front: no other point is both cheaper and more accurate. Open markers: "
     "synthetic weights, which score about 0 by construction."),
    ("chart-kld", "What a quant loses (KL divergence) against $ per 1M tokens",
     "bench quality: mean KL divergence of each quant's next-token distribution from its reference's "
     "(llama-perplexity's definition; bars: 95% interval), log scale, lower is better, against the blended $ per 1M "
     "tokens of a bench run of the same model, quant and machine. The dotted line is the Pareto front. Open "
     "markers: synthetic weights, where the KLD is the quantizer's numerical error on random weights, not a real "
     "model's loss; hollow squares: the deltas llama.cpp publishes for the real model (reference data, not measured "
     "here), at the same cost."),
    ("chart-breakeven", "Break-even monthly volume against each API",
     "Tokens per month (3 input : 1 output) at which holding the machine all month (730 h) costs the same as "
     "the API; above it, self-hosting is cheaper. APIs one machine cannot beat at any utilisation are left "
     "out and named in the cost details below."),
]

METHOD = """
<p><b>Which throughput.</b> Cost uses the highest aggregate output tokens/s among the run's valid request
scenarios (single-stream, or the levels of a concurrency sweep) and names that scenario; a run with no valid
one is priced from its best INVALID one, which it says. Input tokens flow at that scenario's measured
input:output ratio.</p>
<p><b>Which basis.</b> Every result is priced: with --hourly-cost or --capex when given, else with
--profile LABEL=NAME, else with the preset closest to the detected hardware: a GPU by its name; an Apple chip by
its chip, else the same tier (Ultra, Max) of the nearest generation; a CPU machine by vendor, ISA features and
thread count (Google Cloud families). Where none fits, the machine's vCPUs and GiB of RAM are priced at a
general-purpose cloud family's list rates. The basis of each machine is listed under the overview.</p>
<p><b>One machine-hour.</b> Cloud: the profile's price per GPU-hour (times the GPUs in the machine), per
machine-hour, or per vCPU-hour and per GiB-hour (times the machine's threads and RAM), for the chosen basis
(on-demand, spot or reserved). Owned: purchase price / (amortisation months x 730 h), plus electricity:
(idle W + utilisation x (busy W - idle W)) x PUE x tariff. Busy and idle watts come from the run when it
measured them, else from the profile (labelled as such).</p>
<p><b>Input and output.</b> An input token is priced at 1/r of an output token (r = {ratio:g}).
With O output and I input tokens per busy second and H dollars per hour at utilisation u:
<code>$/1M output = H / (3600 x u x (O + I/r)) x 10^6</code>, <code>$/1M input = $/1M output / r</code>;
together they pay exactly for the hour. Blended = (3 x input + output) / 4, the mix API blended prices use.</p>
<p><b>Electricity only.</b> Joules per output token x 10^6 / 3.6x10^6 x $/kWh x PUE. An estimated energy
figure stays labelled "estimated"; an assumed tariff says so.</p>
<p><b>$ per 1,000 tasks.</b> 1,000 requests of the cost scenario's shape (its input and output tokens per
request), at the self-hosted and at each API's input and output prices.</p>
<p><b>Break-even.</b> With the machine held all month, self-hosted blended cost at utilisation u is
k x H(u) / u; the break-even utilisation solves k x H(u) / u = API blended price, and the break-even volume is
730 x H(u) x 10^6 / API blended price tokens per month. "Never" when that needs more than 100 % utilisation
or when electricity alone costs more per token than the API.</p>
"""


@dataclass
class SiteResult:
    index: Path
    rows: list[dict]
    warnings: list[str] = field(default_factory=list)
    stale_headline: str | None = None       # the page's one sentence when most API prices are stale


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise DashboardError("plotly is not installed, the dashboard needs its plotly.js",
                             "pip install plotly (or the rightsize[dashboard] extra)") from None
    return get_plotlyjs()


def count_machines(rows: list[dict]) -> int:
    """Machines, not labels: two machines that share a label (the default, the hostname "vm") are two."""
    return len({(r["label"], r["fingerprint"]) for r in rows})


def _machines(rows: list[dict]) -> None:
    """Where two machines share a label, each row's hardware words carry its fingerprint's start."""
    shared = shared_labels((r["label"], r["fingerprint"]) for r in rows)
    if shared:
        for r in rows:
            r["hardware"] = hardware_words(r["hardware"], r["label"], r["fingerprint"], shared)


def _names(rows: list[dict]) -> None:
    """A short, unique display name per row, and the machine key the hardware filter and the
    overview's grouping use: label and hardware words (_machines)."""
    for r in rows:
        r["machine"] = f"{r['label']} ({r['hardware']})"
        r["name"] = f"{r['label']} · {r['model']} {r['quant']} · {r['backend']}"
    disambiguate(rows, lambda r: (r["started_at"] or r["run_id"] or "?")[:16])


def _reports(path: Path, listed: dict[Path, set[str]]) -> str | None:
    """The one-page report bench run writes beside its result, if it is there; each directory is
    listed once (a stat per result file cost a second at 10,000 results)."""
    folder = path.parent
    if folder not in listed:
        try:
            listed[folder] = {e.name for e in os.scandir(folder)}
        except OSError:
            listed[folder] = set()
    if os.path.splitext(path.name)[0] + ".html" not in listed[folder]:
        return None
    report = path.with_suffix(".html")
    return report.resolve().as_uri() if report.exists() else None


def build_rows(paths: list[Path], **options) -> tuple[list[dict], list[dict], list[str]]:
    """(rows, api prices, warnings) for the results under `paths`: read_results without the outcomes."""
    read = read_results(paths, **options)
    return read.rows, read.apis, read.warnings


class Results(NamedTuple):
    rows: list[dict]
    apis: list[dict]                        # the price table as the page shows it
    warnings: list[str]
    outcomes: list[Outcome]                 # bench quality and bench eval outcomes
    paths: dict[str, Path]                  # run_id -> its file


def read_results(paths: list[Path], *, prices_file: Path | None = None, profiles_file: Path | None = None,
                 profile_choices: Sequence[str] = (), settings: CostSettings = CostSettings(),
                 max_age_days: int = DEFAULT_MAX_AGE_DAYS, today: dt.date | None = None, allow_empty: bool = False,
                 compare: bool = True, workers: int | None = None) -> Results:
    """The rows, API prices, warnings and outcomes of the result files under `paths`, read by the
    contract's one reader (a file it cannot read is a warning naming the file and the field); the
    same run found twice (copied between machines) counts once. No rows only with allow_empty and
    outcomes (a page of bench quality and bench eval outcomes alone). compare=False: each row's cost block
    without its comparisons with every API (rows.price_run); overview() adds them to the rows a
    page shows. `workers`: reading.read_all's."""
    today = today or dt.date.today()
    prices = load_prices(prices_file)
    profiles = load_profiles(profiles_file)
    chosen = parse_profile_choices(list(profile_choices), profiles)
    inputs = RowInputs(profiles, chosen, prices, settings, compare)
    runs, outcomes, warnings = _unique(read_all(result_files(paths), inputs, workers))
    if not runs and not (allow_empty and outcomes):
        raise DashboardError("no results to show" + (f" ({len(warnings)} file(s) skipped)" if warnings else ""),
                             "pass result files or directories written by bench run")
    rows = []
    listed: dict[Path, set[str]] = {}
    for read in runs:
        if read.row is None:                    # its figures do not compute
            warnings.append(str(read.problem))
            continue
        read.row["report"] = _reports(read.path, listed)
        rows.append(read.row)
    if not rows and runs:
        raise DashboardError(f"no usable results ({len(warnings)} file(s) skipped: {warnings[0]})",
                             "pass result files written by bench run")
    _machines(rows)
    _names(rows)
    labels = {r["label"] for r in rows}
    warnings += [f"--profile {label}=...: no result has the label {label!r}" for label in chosen if label not in labels]
    stale = staleness_warning(prices, today, max_age_days)
    if stale:
        warnings.append(stale)
    return Results(rows, [p.to_dict(today) for p in prices], warnings,
                   [read.outcome for read in outcomes if read.outcome is not None], {read.run_id: read.path for read in runs if read.run_id})


def _unique(reads: list[Read]) -> tuple[list[Read], list[Read], list[str]]:
    """(runs, outcomes, warnings): an unreadable file is a warning, and a run or an outcome found a
    second time (copied between machines) is skipped, a run with a warning."""
    runs: list[Read] = []
    outcomes: list[Read] = []
    warnings: list[str] = []
    seen: dict[tuple[bool, str], Path] = {}
    for read in reads:
        if read.run_id is None:
            warnings.append(str(read.problem))
            continue
        key = (read.outcome is not None, read.run_id)
        if key in seen:
            if read.outcome is None:
                warnings.append(f"skipped {read.path}: same run as {seen[key]}")
            continue
        seen[key] = read.path
        (outcomes if read.outcome is not None else runs).append(read)
    return runs, outcomes, warnings


def overview(rows: list[dict], prices: list, warnings: list[str],
             paths: dict[str, Path]) -> tuple[list[dict], list[dict], list[dict]]:
    """(rows, groups, representative rows): the overview's groups (groups.group_rows), with the
    comparisons with every API priced for the runs the page shows in full, each group's median run,
    and for no other (at 10,000 runs and 77 API rows that was most of the build). A shown run
    whose comparisons do not compute is skipped, with the warning build_rows gives, and the groups
    are formed again without it. `paths`: run_id -> its file, for that warning."""
    while True:
        groups, reps = group_rows(rows)
        dropped = set()
        for rep in reps:
            cost = rep["cost"]
            if not cost or cost["apis"] is not None:
                continue
            try:
                compare_apis(rep, cost, prices)     # rep shares its cost block with its row in `rows`
                check_apis(rep)
            except (ArithmeticError, ValueError) as exc:
                cost["apis"] = cost["compare"] = None
                warnings.append(skipped(paths[rep["run_id"]], exc))
                dropped.add(rep["run_id"])
        if not dropped:
            return rows, groups, reps
        rows = [r for r in rows if r["run_id"] not in dropped]
        _names(rows)


# What a row's comparison with one API adds to the price table's row (`apis`, in the same order).
_PER_ROW_API_KEYS = ("like_for_like", "usd_per_1k_tasks", "breakeven_utilisation", "breakeven_tokens_per_month", "never")


def _page_row(row: dict) -> dict:
    """The row as the page gets it: the API's own fields (provider, model, prices, date) are in the
    price table once, not again in each row's comparisons."""
    if not row["cost"]:
        return row
    apis = [{k: a[k] for k in _PER_ROW_API_KEYS} for a in row["cost"]["apis"]]
    return dict(row, cost=dict(row["cost"], apis=apis))


def _basis_words(settings: CostSettings) -> str:
    if settings.hourly_cost is not None:
        return f"your hourly cost of ${settings.hourly_cost:g} for every machine (--hourly-cost)"
    if settings.capex is not None:
        return f"your purchase price of ${settings.capex:,.0f} for every machine (--capex)"
    return f"each machine's basis listed under the overview, the {settings.basis.replace('_', '-')} price for cloud ones"


def _outcome_words(quality: dict | None) -> str:
    if not quality or not (quality["evals"] or quality["klds"]):
        return ""
    quants = len({(k["run_id"]) for k in quality["klds"]})
    return f", {len(quality['evals'])} bench eval and {quants} bench quality outcome(s)"


def render_site(rows: list[dict], grouped: tuple[list[dict], list[dict]], apis: list[dict], warnings: list[str],
                settings: CostSettings, max_age_days: int, plotly_js: str, generated_at: str,
                headline: str | None = None, candidates: tuple[list[str], dict] | None = None,
                quality: dict | None = None, sizes: list[dict] | None = None) -> str:
    """The page; `grouped`: overview()'s groups and representative rows of `rows`."""
    machines = count_machines(rows)
    groups, reps = grouped
    warn_html = ("<div class=\"warnings\"><b>Check before relying on this page:</b><ul>"
                 + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul></div>") if warnings else ""
    stale_html = f'<p class="stale-prices" id="stale-prices">{esc(headline)}</p>' if headline else ""
    filters = "".join(f'<label>{esc(title)}<select id="f-{key}"><option value="">all</option></select></label>'
                      for key, title in (("machine", "hardware"), ("model", "model"), ("quant", "quant"),
                                         ("backend", "backend")))
    charts = "".join(
        f'<section><h2>{esc(title)}</h2><p class="caption">{esc(caption)}</p>'
        f'<div id="{cid}" class="chart"></div><div id="{cid}-empty" class="empty" hidden></div></section>'
        for cid, title, caption in CHARTS)
    body = f"""
<header>
<h1>rightsize: what a million tokens costs</h1>
{stale_html}
<p class="lede">{len(rows)} result(s) from {machines} machine(s){_outcome_words(quality)}, generated {esc(generated_at)}.
Costs use {_basis_words(settings)}, r = {settings.ratio:g} (output:input cost
ratio) and {'utilisation ' + format(settings.utilisation, '.0%') if settings.utilisation else "each profile's utilisation (100 % unless the profile sets one)"}.
Missing figures show as n/a with the reason; estimates say so.</p>
{warn_html}
</header>
<div class="filters">{filters}<button id="f-reset" type="button">show all</button>
<span class="meta" id="shown"></span></div>
<section><h2>Overview</h2>
<p class="caption">One row per machine x model x quant x backend. Repeated runs are one row: each figure is the
median of the row's VALID runs with their min-max spread beside it in small type, and n counts the runs; INVALID runs
are counted and listed but left out of the median (a row with only INVALID runs shows their median, marked INVALID).
Click n for the raw runs, a header to sort; a numbered n/a is explained once in the notes under the table.
Decode tok/s: tg&lt;N&gt; microbenchmark mean. Output tok/s, TPOT and cost: the run's best valid request scenario.
Energy, memory and bandwidth: measured in the run unless marked. The charts and cost details show each row's median
run (by output tok/s).</p>
<div class="scroll"><table id="overview"></table></div>
<ol class="notes" id="overview-notes"></ol>
<h3>Cost basis per machine</h3>
<p class="caption">What one machine-hour costs on each machine, how that basis was chosen, and its source.</p>
<ul id="bases"></ul></section>
{charts}
<section><h2>Quantization ladder: what each quant costs and what it loses</h2>
<p class="caption">Per model and machine, each quant: its file, decode tokens/s and blended $ per 1M tokens (bench run);
its KL divergence, top-1 agreement and PPL ratio against the reference (bench quality, measured here; on synthetic
weights these are the quantizer's error on random weights, not the model's quality); the deltas llama.cpp publishes
for the real model (reference data, with source and date, never mixed with measured figures); and task accuracy
(bench eval). n/a: not measured.</p>
<div id="ladder"></div><div id="ladder-empty" class="empty" hidden></div></section>
<section><h2>Cost details per result</h2>
<p class="caption">The machine-hour, the figures it was built from, and the comparison with every API row.</p>
<div id="details"></div></section>
<section><h2>API price table</h2>
<p class="caption">USD per 1M tokens as listed by each provider on the date observed; rows older than
{max_age_days} days or undated are highlighted: check them before relying on them.</p>
<div class="scroll"><table id="prices"></table></div></section>
<section class="method"><h2>How cost is computed</h2>{METHOD.format(ratio=settings.ratio)}</section>
"""
    data = {"version": PAGE_DATA_VERSION, "rows": [_page_row(r) for r in reps], "groups": groups, "apis": apis, "max_age_days": max_age_days,
            "generated_at": generated_at,
            "quality": quality or {"evals": [], "klds": [], "ladder": []}}
    scripts = [plotly_js, (STATIC / "dashboard.js").read_text(encoding="utf-8")]
    if sizes:                           # bench size documents: "What to buy", its own section and data
        from dashboards.what_to_buy import buy_section

        body += buy_section(sizes)
        data["sizes"] = sizes
        scripts.append((STATIC / "what_to_buy.js").read_text(encoding="utf-8"))
    if candidates:                      # projected machines: a section and a data block of their own
        from dashboards.candidates import candidate_section

        body += candidate_section(candidates[0])
        data["candidates"] = candidates[1]
        scripts.append((STATIC / "candidates.js").read_text(encoding="utf-8"))
    return document("rightsize dashboard", body, scripts=scripts, data=data)


def build_site(paths: list[Path], out_dir: Path, *, max_age_days: int = DEFAULT_MAX_AGE_DAYS,
               settings: CostSettings = CostSettings(), today: dt.date | None = None,
               candidates: Sequence[str] = (), sizes: Sequence[Path] = (), **options) -> SiteResult:
    from dashboards.quality import quality_view

    plotly_js = _plotly_js()          # before any work: a missing plotly is reported first
    buy = None
    if sizes:                         # a bad size document is the user's to fix, before the results are read
        from dashboards.what_to_buy import buy_view, read_sizes

        buy = buy_view(read_sizes(list(sizes)))
    today = today or dt.date.today()
    from contract.storage import bulk

    with bulk():                      # thousands of rows held: no collector passes over them
        # read once: bench run results and bench quality / bench eval outcomes
        rows, apis, warnings, outcomes, files = read_results(paths, settings=settings, max_age_days=max_age_days,
                                                             today=today, allow_empty=True, compare=False, **options)
        prices = load_prices(options.get("prices_file"))
        rows, groups, reps = overview(rows, prices, warnings, files)
        profiles = load_profiles(options.get("profiles_file"))
        quality = quality_view(outcomes, rows, settings, profiles, prices,
                               parse_profile_choices(list(options.get("profile_choices", ())), profiles))
        headline = stale_headline(prices, today, max_age_days)
        if headline:                        # said once, at the top of the page, instead of in the list
            warnings = [w for w in warnings if w != staleness_warning(prices, today, max_age_days)] + [headline]
        generated_at = utc_now()
        view = None
        if candidates:
            from dashboards.candidates import candidate_view

            view = list(candidates), candidate_view(rows, list(candidates), settings, profiles, prices)
        text = render_site(rows, (groups, reps), apis, [w for w in warnings if w != headline], settings, max_age_days,
                           plotly_js, generated_at, headline, view, quality, buy)
        del outcomes                    # gone before the collector is back: its first pass would walk them all
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        index = out_dir / "index.html"
        index.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DashboardError(f"cannot write the site to {out_dir}: {exc.strerror or exc}",
                             "pass -o with a directory you can write to") from None
    return SiteResult(index, rows, warnings, headline)
