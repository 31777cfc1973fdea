"""The threaded HTTP server the stand-ins share: a client hanging up is normal, not a traceback."""
from __future__ import annotations

import logging
import sys
from http.server import ThreadingHTTPServer

log = logging.getLogger("sandbox.http")


class QuietThreadingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, error)
            return
        log.exception("error while serving %s", client_address)
