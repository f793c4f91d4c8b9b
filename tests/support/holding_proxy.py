"""A loopback proxy in front of a real influxd that can park one request: a barrier inside a write.

Every request is passed to ``forward_to`` as it is. ``hold(path, nth)`` parks the ``nth`` request to ``path``
(counting from 1): ``reached`` is set when it arrives, and it waits there until ``release(forward=True)``
passes it on, or ``release(forward=False)`` drops the connection without an answer (a server that died with the
request). A request whose forward fails (influxd killed) also loses its connection without an answer, and one
sent to a stopped (SIGSTOP) influxd waits for it: ``wait_idle()`` returns once no request is in flight. So a test
kills, stops or resumes influxd, or kills the writer's process, at an exact point of a write, with no sleeps.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HoldingProxy:
    def __init__(self, forward_to: str) -> None:
        self.forward_to = forward_to
        self.counts: dict[str, int] = {}
        self.reached = threading.Event()
        self._release = threading.Event()
        self._forward_held = True
        self._hold: tuple[str, int] | None = None
        self._in_flight = 0
        self._idle = threading.Condition()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def store_url(self, database: str) -> str:
        return f"influxdb://127.0.0.1:{self.port}/{database}"

    def hold(self, path: str, nth: int) -> None:
        with self._lock:
            self._hold = (path, self.counts.get(path, 0) + nth)
            self.reached.clear()
            self._release.clear()

    def release(self, forward: bool = True) -> None:
        self._forward_held = forward
        self._release.set()

    def wait_idle(self, timeout_s: float = 60.0) -> None:
        with self._idle:
            assert self._idle.wait_for(lambda: self._in_flight == 0, timeout_s), "requests still in flight"

    def __enter__(self) -> HoldingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _relay(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                path = self.path.split("?", 1)[0]
                with proxy._lock:
                    proxy.counts[path] = proxy.counts.get(path, 0) + 1
                    held = proxy._hold is not None and proxy._hold == (path, proxy.counts[path])
                if held:
                    proxy.reached.set()
                    proxy._release.wait()
                    if not proxy._forward_held:
                        self.close_connection = True
                        return  # no answer: the server "died" with this request
                with proxy._idle:
                    proxy._in_flight += 1
                try:
                    self._forward(method, body)
                finally:
                    with proxy._idle:
                        proxy._in_flight -= 1
                        proxy._idle.notify_all()

            def _forward(self, method: str, body: bytes) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
                request = urllib.request.Request(
                    proxy.forward_to + self.path,
                    data=body if method == "POST" else None,
                    headers=headers,
                    method=method,
                )
                try:
                    with urllib.request.urlopen(request, timeout=120) as resp:
                        status, payload, kind = resp.status, resp.read(), resp.headers.get("Content-Type", "")
                except urllib.error.HTTPError as exc:
                    status, payload, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
                except OSError:
                    self.close_connection = True
                    return  # influxd is gone: the client sees a connection dropped without an answer
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind or "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up waiting (its timeout): nobody to answer
                    self.close_connection = True

            def do_POST(self) -> None:
                self._relay("POST")

            def do_GET(self) -> None:
                self._relay("GET")

        return Handler
