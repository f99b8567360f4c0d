"""Server-sent events framing (the WHATWG event-stream format) over the raw bytes of a response.

Only `data:` fields matter for OpenAI-style streams; comments (`: ping`, sent by some servers
to keep connections open) and other fields are skipped. An event ends at a blank line; lines end
with CRLF, LF or CR.

Bytes, not text lines: every token is an event, and iterating a response's lines through the
HTTP client's text and line decoders cost more per event than the rest of our client
(benchmarks/client_vs_peer.py). A line is decoded only when complete, so a UTF-8 character split
between two reads is whole by then.
"""

from __future__ import annotations


class SSEDecoder:
    def __init__(self):
        self._rest = b""                # an unfinished line
        self._data: list[bytes] = []    # data fields of the event not yet ended

    def feed(self, chunk: bytes) -> list[str]:
        """Feed bytes as they arrive; returns the data of each event they complete."""
        buf = self._rest + chunk
        if b"\r" in buf:
            # CRLF or a lone CR ends a line; a CR at the very end may be the first half of a CRLF
            held = buf.endswith(b"\r")
            buf = buf[:-1].replace(b"\r\n", b"\n").replace(b"\r", b"\n") if held else \
                buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            *lines, rest = buf.split(b"\n")
            self._rest = rest + b"\r" if held else rest
        else:
            *lines, self._rest = buf.split(b"\n")
        out: list[str] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    out.append(b"\n".join(data).decode(errors="replace"))
                    data.clear()
            elif line.startswith(b"data:") or line == b"data":
                data.append(_value(line))
            # comments (":") and other fields (event, id, retry) carry nothing we use
        return out

    def flush(self) -> str | None:
        """Data of an event not yet ended by a blank line (at the end of a stream)."""
        line, self._rest = self._rest.rstrip(b"\r"), b""      # the last line, unterminated
        if line.startswith(b"data:") or line == b"data":
            self._data.append(_value(line))
        if not self._data:
            return None
        data = b"\n".join(self._data).decode(errors="replace")
        self._data.clear()
        return data


def _value(line: bytes) -> bytes:
    """A data line's value: after "data:" and one optional space."""
    return line[6:] if line.startswith(b"data: ") else line[5:]
