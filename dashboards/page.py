"""The HTML shell shared by the site and the one-machine report: self-contained, offline.

Strings from result files reach the page two ways only: through html.escape in markup built
here, and as JSON inside a non-executed <script type="application/json"> block with <, > and &
escaped, which the page's own script reads and puts into the DOM as text. A Content-Security-
Policy allows only the page's own inline scripts (by hash), so injected markup cannot run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Sequence
from pathlib import Path

STATIC = Path(__file__).with_name("static")


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def json_for_script(obj) -> str:
    """JSON that cannot close its <script> element or start markup."""
    text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
    for ch, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                     ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, code)
    return text


def _sha256(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def document(title: str, body: str, scripts: Sequence[str] = (), data: dict | None = None) -> str:
    """A complete page: inline CSS, optional JSON data block, inline scripts allowed by hash."""
    for s in scripts:
        if "</script" in s.lower():
            raise ValueError("inline script contains '</script'")
    csp = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           f"script-src {' '.join(_sha256(s) for s in scripts) or chr(39) + 'none' + chr(39)}")
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    data_block = (f'<script type="application/json" id="rs-data">{json_for_script(data)}</script>\n'
                  if data is not None else "")
    script_blocks = "".join(f"<script>{s}</script>\n" for s in scripts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n"
        f"<title>{esc(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n{body}\n"
        f"{data_block}{script_blocks}</body>\n</html>\n"
    )
