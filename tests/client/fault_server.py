"""A tiny real HTTP server on 127.0.0.1 that stores metric batches and injects faults on cue.

It speaks just enough of the Podium API for the SDK's metric batcher: ``POST
/api/v1/runs/{id}/metrics``. Each request takes the next action from ``faults`` (an empty queue
means "store and answer 200"); a failed request stores nothing, so a test can tell a retried
point from a lost or duplicated one.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Actions: "ok", "drop" (close the connection without answering), ("status", code),
# ("sleep", seconds) (then store and answer).
Action = Any

PROBLEM_TYPES = {
    404: "not-found",
    422: "invalid-input",
    413: "payload-too-large",
    503: "unavailable",
}


class FaultServer:
    """Start with ``with FaultServer() as server:``; ``server.url`` is its base URL."""

    def __init__(self, max_body: int | None = None) -> None:
        self.faults: deque[Action] = deque()
        self.points: list[dict[str, Any]] = []
        self.requests = 0
        self.body_sizes: list[int] = []
        self.max_body = max_body
        self.always: Action | None = None  # an action for every request, after ``faults``
        self.gate = threading.Event()  # requests wait here until it is set
        self.gate.set()
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` points are stored; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.points) >= count:
                    return True
            time.sleep(0.01)
        return False

    def _next_action(self) -> Action:
        with self.lock:
            self.requests += 1
            if self.faults:
                return self.faults.popleft()
            return self.always or "ok"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                server.gate.wait()
                action = server._next_action()
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if isinstance(action, tuple) and action[0] == "status":
                    self._problem(action[1], f"injected {action[1]}")
                    return
                if isinstance(action, tuple) and action[0] == "sleep":
                    time.sleep(action[1])
                if server.max_body is not None and length > server.max_body:
                    self._problem(413, f"request body is larger than {server.max_body} bytes")
                    return
                points = json.loads(body)["metrics"]
                with server.lock:
                    server.points.extend(points)
                    server.body_sizes.append(length)
                self._reply(200, "application/json", {"logged": len(points)})

            def _problem(self, status: int, detail: str) -> None:
                slug = PROBLEM_TYPES.get(status, "internal")
                body = {
                    "type": f"https://podium.dev/problems/{slug}",
                    "title": slug,
                    "status": status,
                    "detail": detail,
                }
                if status == 422:
                    body["field"] = "metrics.0.key"
                self._reply(status, "application/problem+json", body)

            def _reply(self, status: int, content_type: str, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
