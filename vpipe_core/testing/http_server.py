"""The threaded HTTP server the loopback stand-ins share."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A client that drops its kept-alive connection is normal for a stand-in (workers killed
    by a test, pools closed at exit): that is not printed as a server error; anything else is."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)
