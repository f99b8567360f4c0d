"""The API price table: dated, sourced rows; a user file adds rows or overrides them.

A row is keyed by (provider, model), case-insensitive: a user row with the same key replaces
the built-in one, any other row is added. Prices move monthly, so every row carries the date
it was observed and rows older than a set age are flagged, never silently trusted.
"""

from __future__ import annotations

import datetime as dt
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


def _number(row: dict, name: str, where: str, required: bool) -> float | None:
    value = row.get(name)
    if value is None and not required:
        return None
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
        input=_number(row, "input", where, True), output=_number(row, "output", where, True),
        cached_input=_number(row, "cached_input", where, False),
        observed=None if observed is None else str(observed), source=row["source"].strip(),
        serves=tuple(str(s).strip().lower() for s in serves), note=str(row.get("note") or ""), origin=origin,
    )


def load_prices(user_file: Path | None = None) -> list[ApiPrice]:
    """Built-in rows, then the user's: same (provider, model) replaces, new ones are added."""
    rows = {}
    for i, raw in enumerate(builtin_rows("api_prices.json", "prices")):
        p = parse_row(raw, f"built-in price row {i + 1}", "built-in")
        rows[p.key] = p
    if user_file is not None:
        for i, raw in enumerate(read_rows(user_file, "prices", "price", {"input", "cached_input", "output"})):
            p = parse_row(raw, f"{user_file}: row {i + 1}", str(user_file))
            rows[p.key] = p
    return sorted(rows.values(), key=lambda p: (p.blended, p.provider, p.model))


def stale_rows(prices: list[ApiPrice], today: dt.date, max_age_days: int) -> list[ApiPrice]:
    """Rows observed more than max_age_days ago, or undated."""
    return [p for p in prices if (p.age_days(today) is None or p.age_days(today) > max_age_days)]


def staleness_warning(prices: list[ApiPrice], today: dt.date, max_age_days: int) -> str | None:
    stale = stale_rows(prices, today, max_age_days)
    if not stale:
        return None
    undated = sum(1 for p in stale if p.observed is None)
    old = len(stale) - undated
    parts = ([f"{old} older than {max_age_days} days"] if old else []) + ([f"{undated} undated"] if undated else [])
    return (f"{len(stale)} of {len(prices)} API price rows are {' and '.join(parts)}; check them before "
            f"publishing (override rows with --prices FILE, or set --max-age-days)")
