"""Which API rows a self-hosted run is set against, and the cheapest and the closest of them.

Like for like first: the rows that serve the run's own catalog model. Without any, the rows of
the model class the catalog covers (open-weight 7B-14B models from hosts); a run whose model is
outside that class (the tiny test model, a 70B file) still gets those rows, said to be for
reference only. "Closest" is the row nearest in blended price to the self-hosted figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

OPEN_CLASS = "open 7B-14B"
CLASS_PARAMS = (6e9, 16e9)      # the catalog's models have 6.7B-14.8B parameters
T = TypeVar("T")


def model_params(fig: dict) -> int | None:
    """Parameters of the run's model: as the engine loaded it, else the catalog's figure."""
    if fig.get("model_params"):
        return fig["model_params"]
    from models.catalog import CATALOG

    spec = CATALOG.get((fig.get("model") or "").strip().lower())
    return spec.params if spec else None


def rows_for(fig: dict, rows: list[T], serves: Callable[[T], bool],
             model_class: Callable[[T], str | None]) -> tuple[str, list[T]]:
    """(which rows, in words; the rows) a run of `fig`'s model ({"model", "model_params"?}) is set
    against: those serving its model, else the open class's, said to be for reference only where
    the model is outside that class. For the dashboard's cost blocks and `bench size` alike."""
    pool = [r for r in rows if serves(r)]
    if pool:
        return f"APIs serving {fig['model']}", pool
    params = model_params(fig)
    if params is not None and CLASS_PARAMS[0] <= params <= CLASS_PARAMS[1]:
        what = f"{OPEN_CLASS} APIs (none serves {fig['model']})"
    else:
        size = "of unknown size" if params is None else \
            f"{params / 1e9:.3g}B parameters" if params >= 1e9 else f"{params / 1e6:.3g}M parameters"
        what = f"{OPEN_CLASS} APIs, for reference only: {fig['model']} ({size}) is outside that class"
    return what, [r for r in rows if model_class(r) == OPEN_CLASS]


def comparison(fig: dict, apis: list[dict], self_blended: float) -> dict | None:
    """{"what": which rows, "count", "cheapest", "closest"} from the cost block's api entries."""
    what, pool = rows_for(fig, apis, lambda a: a["like_for_like"], lambda a: a["model_class"])
    if not pool:
        return None
    return {"what": what, "count": len(pool),
            "cheapest": min(pool, key=lambda a: a["blended"]),
            "closest": min(pool, key=lambda a: abs(math.log(max(a["blended"], 1e-9) / self_blended)))}
