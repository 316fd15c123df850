"""The threaded HTTP server the loopback stand-ins share."""

from __future__ import annotations

import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

POLL_INTERVAL_S = 0.05  # shutdown() waits up to one poll interval


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A client that drops its kept-alive connection is normal for a stand-in (workers killed
    by a test, pools closed at exit): that is not printed as a server error; anything else is."""

    daemon_threads = True
    _serving: threading.Thread | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def serve_in_background(self, name: str) -> None:
        """Serve from a daemon thread until `stop_serving()`."""
        self._serving = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name=name,
            daemon=True,
        )
        self._serving.start()

    def stop_serving(self) -> None:
        """Stop the loop (if it runs), close the socket and wait for the thread."""
        if self._serving is not None:
            self.shutdown()
        self.server_close()
        if self._serving is not None:
            self._serving.join(5)
            self._serving = None
