"""A small OpenAI-compatible server on 127.0.0.1 that knows the right answers: for each prompt (or
last user message) in `right` it streams the expected answer, for any other it streams a wrong one,
so an eval through it has a known accuracy. Usage is reported as one token per word."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class AnswerServer:
    def __init__(self, right: dict[str, str], wrong: str = "I do not know."):
        self.right, self.wrong = right, wrong
        self.bodies: list[dict] = []
        self._httpd: ThreadingHTTPServer | None = None

    def __enter__(self) -> str:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _json(self, status: int, doc: dict) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._json(200, {"data": [{"id": "answers", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self.path.endswith("completions"):          # no tokenize endpoint here
                    self._json(404, {"error": {"message": "not found"}})
                    return
                server.bodies.append(body)
                chat = self.path.endswith("/chat/completions")
                if chat:
                    prompt = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
                else:
                    prompt = body["prompt"] if isinstance(body["prompt"], str) else "ids"
                answer = server.right.get(prompt, server.wrong)
                words = answer.split(" ")
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                sent = words[: body.get("max_tokens", 64)]
                for i, w in enumerate(sent):
                    piece = w if i == 0 else " " + w
                    choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
                    last = i == len(sent) - 1
                    choice["finish_reason"] = ("stop" if len(sent) == len(words) else "length") if last else None
                    self.wfile.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
                usage = {"prompt_tokens": len(prompt.split()) + 1, "completion_tokens": len(sent)}
                if (body.get("stream_options") or {}).get("include_usage"):
                    self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __exit__(self, *exc) -> None:
        assert self._httpd is not None, "__exit__ without __enter__"
        self._httpd.shutdown()
        self._httpd.server_close()
