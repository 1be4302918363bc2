"""Serving a WSGI app (the sandbox, or a test's webhook receiver) on loopback, threaded, with keep-alive."""

from __future__ import annotations

import logging
import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1, so a client keeps its connection open between requests as it does with Twilio's API
    (werkzeug's development server speaks HTTP/1.0 and closes each connection otherwise)."""

    protocol_version = "HTTP/1.1"


def make_threaded_server(app: Flask, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """A threaded server for ``app`` (one thread per connection), not yet serving; no access log on the terminal."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)


def serve_in_thread(app: Flask, host: str = "127.0.0.1", port: int = 0) -> tuple[BaseWSGIServer, str]:
    """Serve a WSGI app on a background thread (threaded server); returns the server and its base URL."""
    server = make_threaded_server(app, host, port)
    threading.Thread(target=server.serve_forever, name=f"wsgi-{server.port}", daemon=True).start()
    return server, f"http://{host}:{server.port}"
