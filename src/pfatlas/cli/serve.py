"""``pfatlas serve OUT``: the atlas viewer on a local web server (127.0.0.1 only)."""

from __future__ import annotations

from pathlib import Path

import typer

from pfatlas.cli.options import stderr, stdout


def register(app: typer.Typer, state: dict) -> None:
    @app.command("serve")
    def serve_cmd(
        out: Path = typer.Argument(..., help="Atlas folder written by `pfatlas build` (with index.html)."),
        port: int = typer.Option(
            8000, "--port", "-p", min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."
        ),
    ) -> None:
        """Serve the atlas viewer of OUT on http://127.0.0.1 (this machine only) until Ctrl-C.

        The viewer also opens straight from disk (OUT/index.html); from the server a click on the map
        shows the exact values of the cell, read from the atlas rasters.
        """
        from pfatlas.atlas.serve import serve

        def ready(url: str) -> None:
            stdout.print(f"Serving the atlas viewer of {out} at {url} (Ctrl-C to stop)", markup=False)

        serve(out, port=port, on_ready=ready)
        stderr.print("stopped")
