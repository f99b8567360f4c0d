"""The API price table: dated, sourced rows; the user's own rows add to it or override it.

A row is keyed by (provider, model), case-insensitive. Three layers, each replacing the rows of
the one before with the same key and adding the others: the built-in table, the user's price
store (rows merged with `bench prices --update FILE`, kept across runs) and a `--prices FILE`
given to one command. Prices move monthly, so every row carries the date it was observed and
rows older than a set age are flagged, never silently trusted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dashboards.cost import blended_3_1
from dashboards.datafile import builtin_rows, read_rows
from dashboards.errors import DashboardError

DEFAULT_MAX_AGE_DAYS = 180
_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def period_start(text: str) -> dt.date:
    """First day of "YYYY-MM-DD", "YYYY-MM" or "YYYY"; ValueError if it is none of these."""
    m = _DATE.match(text)
    if not m:
        raise ValueError(text)
    y, mo, d = m.groups()
    return dt.date(int(y), int(mo or 1), int(d or 1))


@dataclass(frozen=True)
class ApiPrice:
    model: str
    provider: str
    input: float                  # $ per 1M input tokens
    output: float                 # $ per 1M output tokens
    cached_input: float | None    # $ per 1M cached input tokens; None where not offered or not known
    observed: str | None          # YYYY-MM-DD, YYYY-MM or YYYY; None = the source is undated
    source: str
    serves: tuple[str, ...] = ()  # catalog model ids this API runs: like-for-like rows
    model_class: str | None = None  # e.g. "open 7B-14B": the rows a self-hosted run is compared with
    note: str = ""
    origin: str = "built-in"      # "built-in" or the user file the row came from
    key: tuple[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "key", (self.provider.strip().lower(), self.model.strip().lower()))

    @property
    def blended(self) -> float:
        return blended_3_1(self.input, self.output)

    def observed_date(self) -> dt.date | None:
        """Start of the observed period: a month or a year counts from its first day."""
        return None if self.observed is None else period_start(self.observed)

    def age_days(self, today: dt.date) -> int | None:
        observed = self.observed_date()
        return None if observed is None else (today - observed).days

    def to_dict(self, today: dt.date | None = None) -> dict:
        d = asdict(self)
        d.pop("key")
        d["serves"] = list(self.serves)
        d["blended"] = self.blended
        if today is not None:
            d["age_days"] = self.age_days(today)
        return d


def _optional_number(row: dict, name: str, where: str) -> float | None:
    return None if row.get(name) is None else _number(row, name, where)


def _number(row: dict, name: str, where: str) -> float:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise DashboardError(f"{where}: {name} must be a number of dollars per 1M tokens >= 0, got {value!r}",
                             f"fix {name} in that row")
    return float(value)


def parse_row(row: dict, where: str, origin: str) -> ApiPrice:
    for name in ("model", "provider", "source"):
        if not isinstance(row.get(name), str) or not row[name].strip():
            raise DashboardError(f"{where}: missing {name}", "every price row needs model, provider, input, "
                                                             "output, observed and source")
    observed = row.get("observed")
    if observed is not None:
        try:
            period_start(str(observed))
        except ValueError:
            raise DashboardError(f"{where}: observed date {observed!r} is not a date as YYYY-MM-DD, YYYY-MM "
                                 f"or YYYY", "for example \"observed\": \"2026-05-22\"") from None
    serves = row.get("serves") or ()
    if isinstance(serves, str):                 # CSV: "llama-3.1-8b;qwen2.5-7b"
        serves = [s for s in re.split(r"[;,\s]+", serves) if s]
    return ApiPrice(
        model=row["model"].strip(), provider=row["provider"].strip(),
        input=_number(row, "input", where), output=_number(row, "output", where),
        cached_input=_optional_number(row, "cached_input", where),
        observed=None if observed is None else str(observed), source=row["source"].strip(),
        serves=tuple(str(s).strip().lower() for s in serves), note=str(row.get("note") or ""), origin=origin,
        model_class=str(row["model_class"]).strip() if row.get("model_class") else None,
    )


NUMERIC = {"input", "cached_input", "output"}      # the CSV columns read as numbers


def user_store_path() -> Path:
    """Where `bench prices --update` keeps the user's rows: $RIGHTSIZE_PRICES, else the config dir."""
    if os.environ.get("RIGHTSIZE_PRICES"):
        return Path(os.environ["RIGHTSIZE_PRICES"])
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "rightsize" / "prices.json"


def _rows_of(path: Path, origin: str) -> list[ApiPrice]:
    return [parse_row(raw, f"{path}: row {i + 1}", origin)
            for i, raw in enumerate(read_rows(path, "prices", "price", NUMERIC))]


def load_prices(user_file: Path | None = None) -> list[ApiPrice]:
    """Built-in rows, then the user's store, then `user_file`: same (provider, model) replaces."""
    rows = {}
    for i, raw in enumerate(builtin_rows("api_prices.json", "prices")):
        p = parse_row(raw, f"built-in price row {i + 1}", "built-in")
        rows[p.key] = p
    store = user_store_path()
    for path in ([store] if store.exists() else []) + ([user_file] if user_file is not None else []):
        rows.update((p.key, p) for p in _rows_of(path, str(path)))
    return sorted(rows.values(), key=lambda p: (p.blended, p.provider, p.model))


@dataclass
class Merged:
    store: Path
    added: list[ApiPrice] = field(default_factory=list)
    replaced: list[ApiPrice] = field(default_factory=list)
    kept: list[ApiPrice] = field(default_factory=list)      # the stored row was observed later


def _stored_fields(p: ApiPrice) -> dict:
    d = p.to_dict()
    for computed in ("blended", "origin"):
        d.pop(computed)
    return {k: v for k, v in d.items() if v not in (None, "", [])}


def merge_into_store(update: Path, store: Path | None = None) -> Merged:
    """Merge a user's dated rows into the store; a stored row observed later than its update stays."""
    store = store or user_store_path()
    incoming = _rows_of(update, str(store))
    undated = [p for p in incoming if p.observed is None]
    if undated:
        raise DashboardError(f"{update}: {len(undated)} row(s) without an observed date, e.g. "
                             f"{undated[0].provider} {undated[0].model}",
                             "a merged row must say when its price was seen: add observed (YYYY-MM-DD)")
    rows = {p.key: p for p in _rows_of(store, str(store))} if store.exists() else {}
    merged = Merged(store)
    for p in incoming:
        old = rows.get(p.key)
        old_date = old.observed_date() if old is not None else None
        new_date = p.observed_date()            # never None: undated rows were refused above
        if old is not None and old_date is not None and new_date is not None and old_date > new_date:
            merged.kept.append(old)
            continue
        (merged.replaced if old is not None else merged.added).append(p)
        rows[p.key] = p
    doc = {"_about": "API prices merged with `bench prices --update`; they replace built-in rows with the same "
                     "provider and model.",
           "prices": [_stored_fields(p) for p in sorted(rows.values(), key=lambda p: p.key)]}
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(store.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        tmp.replace(store)                      # atomic: a crash never leaves half a store
    except OSError as exc:
        raise DashboardError(f"cannot write the price store {store}: {exc.strerror or exc}",
                             "set RIGHTSIZE_PRICES to a file you can write") from None
    return merged


def stale_rows(prices: list[ApiPrice], today: dt.date, max_age_days: int) -> list[ApiPrice]:
    """Rows observed more than max_age_days ago, or undated."""
    return [p for p in prices if (age := p.age_days(today)) is None or age > max_age_days]


def _stale_counts(stale: list[ApiPrice], total: int, max_age_days: int) -> str:
    """ "3 of 30 API price rows are older than 180 days", "... have no date", or both, counted apart."""
    undated = sum(1 for p in stale if p.observed is None)
    old = len(stale) - undated
    if not undated:
        return f"{old} of {total} API price rows are older than {max_age_days} days"
    if not old:
        return f"{undated} of {total} API price rows have no date"
    return (f"{len(stale)} of {total} API price rows need checking ({old} older than {max_age_days} days, "
            f"{undated} with no date)")


def staleness_warning(prices: list[ApiPrice], today: dt.date, max_age_days: int) -> str | None:
    stale = stale_rows(prices, today, max_age_days)
    if not stale:
        return None
    return (f"{_stale_counts(stale, len(prices), max_age_days)}; check them before publishing (add newer rows "
            f"with bench prices --update FILE or --prices FILE, or set --max-age-days)")


def newest_observed(prices: list[ApiPrice]) -> dt.date | None:
    dates = [d for p in prices if (d := p.observed_date()) is not None]
    return max(dates) if dates else None


def stale_headline(prices: list[ApiPrice], today: dt.date, max_age_days: int) -> str | None:
    """One sentence for the top of a page when most rows are stale, with the newest date; else None."""
    stale = stale_rows(prices, today, max_age_days)
    if 2 * len(stale) <= len(prices):
        return None
    newest = newest_observed(prices)
    return (f"Most API prices here are out of date: {_stale_counts(stale, len(prices), max_age_days)}, and the "
            f"newest was observed on {newest.isoformat() if newest else 'no known date'}.")
