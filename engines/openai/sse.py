"""Server-sent events framing (the WHATWG event-stream format) over a stream of text lines.

Only `data:` fields matter for OpenAI-style streams; comments (`: ping`, sent by some servers
to keep connections open) and other fields are skipped. An event ends at a blank line.
"""

from __future__ import annotations


class SSEDecoder:
    def __init__(self):
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Feed one line (without its line break); returns an event's data when one completes."""
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None

    def flush(self) -> str | None:
        """Data of an event not yet ended by a blank line (at the end of a stream)."""
        if not self._data:
            return None
        data, self._data = "\n".join(self._data), []
        return data
