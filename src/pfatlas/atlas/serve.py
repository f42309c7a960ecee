"""``pfatlas serve OUT``: a local web server for the atlas viewer, on 127.0.0.1 only.

The viewer also opens straight from disk; the server adds exact click values: ``GET
/api/cell?row=R&col=C`` answers ``{"row", "col", "values": {layer key: value}}`` read from the
atlas COGs themselves (:func:`pfatlas.atlas.viewer.cell_values`), listed once at start-up from the
atlas folder, so the endpoint can read no other file.

Everything else is static files of the folder, with these limits (the server has no
authentication, so it must expose nothing else):

- it binds 127.0.0.1 (``localhost`` is taken as 127.0.0.1); any other host is refused;
- only GET and HEAD; no directory listings; no hidden files (a name starting with ``.``);
- a path that resolves outside the folder (``..`` in any encoding, a symlink pointing out) is
  answered 404, as is a path with a NUL byte;
- a request whose ``Host`` header is not this server's (a DNS-rebinding page) is answered 403.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from pfatlas.errors import InputError, MissingInputError

__all__ = ["make_server", "serve", "server_url", "LOOPBACK"]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_LOOPBACK_NAMES = {"127.0.0.1", "localhost"}


class _AtlasServer(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    layers: list

    def handle_error(self, request, client_address):
        """A browser that drops a connection (page closed, request superseded) is not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("client %s closed the connection", client_address)
            return
        log.exception("error while answering %s", client_address)


class _Handler(SimpleHTTPRequestHandler):
    server: _AtlasServer

    # ------------------------------------------------------------------ checks
    def _host_ok(self) -> bool:
        host = self.headers.get("Host")
        if host is None:  # HTTP/1.0 clients send none; a browser always does
            return True
        port = self.server.server_address[1]
        return host in {f"{name}:{port}" for name in _LOOPBACK_NAMES} or (
            port == 80 and host in _LOOPBACK_NAMES
        )

    def _refused(self) -> bool:
        """Whether the request's path is hidden, has a NUL byte or resolves outside the folder."""
        url_path = unquote(urlsplit(self.path).path)
        if "\x00" in url_path or any(part.startswith(".") for part in url_path.split("/") if part):
            return True
        real = Path(os.path.realpath(self.translate_path(self.path)))
        return not real.is_relative_to(self.server.root)

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND, "No directory listings")
        return None

    def end_headers(self):
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    # ------------------------------------------------------------------ methods
    def _allowed(self) -> bool:
        if not self._host_ok():
            self.send_error(HTTPStatus.FORBIDDEN, "Wrong Host header")
            return False
        if self._refused():
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return False
        return True

    def do_GET(self):
        if urlsplit(self.path).path == "/api/cell":
            if self._host_ok():
                self._cell()
            else:
                self.send_error(HTTPStatus.FORBIDDEN, "Wrong Host header")
        elif self._allowed():
            super().do_GET()

    def do_HEAD(self):
        if self._allowed():
            super().do_HEAD()

    def _json(self, status: HTTPStatus, doc: dict) -> None:
        body = json.dumps(doc, allow_nan=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _cell(self) -> None:
        from pfatlas.atlas.viewer import cell_values

        q = parse_qs(urlsplit(self.path).query)
        try:
            row, col = int(q["row"][0]), int(q["col"][0])
        except (KeyError, ValueError, IndexError):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "give integer row and col"})
            return
        try:
            values = cell_values(self.server.layers, row, col)
        except InputError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc.detail)})
            return
        self._json(HTTPStatus.OK, {"row": row, "col": col, "values": values})

    def log_message(self, format, *args):  # noqa: A002 (the name the base class uses)
        log.info("%s %s", self.address_string(), format % args)


def make_server(out: str | Path, host: str = LOOPBACK, port: int = 0) -> ThreadingHTTPServer:
    """A bound (not yet running) server of the viewer in ``out``; ``port=0`` picks a free port.

    Run it with ``serve_forever()`` and stop it with ``shutdown()`` and ``server_close()``.

    Raises
    ------
    InputError
        ``host`` is not the loopback address, or the port is taken.
    MissingInputError
        ``out`` has no ``index.html`` (the viewer was not written).
    """
    from pfatlas.atlas.viewer import INDEX, atlas_layers

    if host not in _LOOPBACK_NAMES:
        raise InputError(
            f"refusing to serve on {host!r}: the viewer server binds {LOOPBACK} only (it has no "
            "authentication, so it must not be reachable from other machines)",
            field="host",
        )
    out = Path(out)
    if not (out / INDEX).is_file():
        raise MissingInputError(
            f"no viewer here ({INDEX} missing): `pfatlas build` writes it into the atlas folder", path=out
        )
    root = Path(os.path.realpath(out))
    try:
        server = _AtlasServer((LOOPBACK, int(port)), partial(_Handler, directory=str(root)))
    except OSError as exc:
        raise InputError(
            f"cannot listen on {LOOPBACK}:{port} ({exc.strerror or exc}); choose another port with "
            "--port (0 picks a free one)",
            field="port",
        ) from exc
    server.root = root
    server.layers = atlas_layers(root)
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    """The URL of the viewer on a server made by :func:`make_server`."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve(out: str | Path, host: str = LOOPBACK, port: int = 8000, *, on_ready=None) -> None:
    """Serve the viewer in ``out`` until interrupted (Ctrl-C).

    ``on_ready(url)`` is called once the server listens.
    """
    server = make_server(out, host, port)
    with server:
        if on_ready is not None:
            on_ready(server_url(server))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped")
