"""A stand-in LLM endpoint whose first answer is slow: long enough to stop a worker mid-job."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SlowLLM:
    """An LLM endpoint whose first answer takes ``hold`` seconds (long enough to kill a worker)."""

    def __init__(self, hold: float):
        self.hold = hold
        self.calls = 0
        self.first_call = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.calls += 1
                if outer.calls == 1:
                    outer.first_call.set()
                    time.sleep(outer.hold)
                data = json.dumps({"choices": []}).encode()  # unusable: the composer writes it
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/chat/completions"

    def close(self):
        self.server.shutdown()
