"""Time of each atlas product (colour scales, sidecars, area tables, plates, PDF, viewer, STAC) on a built demo.

Usage: .venv/bin/python benchmarks/bench_products.py [--out out/demo] [--size full] [--dpi 150]
       [--json PATH]

Needs a demo folder (made with `pfatlas demo`; made here if missing). Runs the product steps of the
`atlas` stage one by one in this process on that folder, printing seconds per step, the total, the
peak resident memory, the PDF's size and the viewer's size. Target (issue 5): all plates, the PDF and
the viewer of the full demo within 60 s on the 2-core reference machine; the PDF under 50 MB.
``--json PATH`` writes the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from _child import run_pfatlas
from _record import add_json_option, save


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def first_paint(out: Path) -> tuple[float, float, float] | None:
    """(page load to the first map image [s], first contentful paint [ms], first image [ms]) of the
    viewer served by `pfatlas serve` on 127.0.0.1, in Debian's headless chromium; None without it."""
    import tempfile
    import threading

    if not Path(CHROMIUM).is_file():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    from pfatlas.atlas.serve import make_server, server_url

    server = make_server(out)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                        args=CHROMIUM_ARGS)  # fmt: skip
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(server_url(server))
            page.wait_for_function("window.PFV && PFV.timing.firstImage !== null", timeout=30000)
            load = time.perf_counter() - t0
            fcp = page.evaluate(
                "(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: NaN}).startTime"
            )
            image = page.evaluate("PFV.timing.firstImage")
            ctx.close()
    finally:
        server.shutdown()
        server.server_close()
    return load, fcp, image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/demo"))
    ap.add_argument("--size", default="full", choices=["full", "small", "4x"])
    ap.add_argument("--dpi", type=int, default=150)
    add_json_option(ap)
    args = ap.parse_args()
    out = args.out.resolve()
    if not (out / "inputs" / "config.toml").exists():
        print(f"making the demo in {out} first ...", flush=True)
        run_pfatlas(["-q", "demo", str(out), "--size", args.size])

    from pfatlas.atlas.pdf import write_atlas_pdf
    from pfatlas.atlas.plates import render_plates
    from pfatlas.atlas.qgis import write_class_sidecars, write_qml_styles
    from pfatlas.atlas.stac import write_catalog
    from pfatlas.atlas.style import write_styles
    from pfatlas.atlas.tables import write_area_tables
    from pfatlas.atlas.viewer import write_viewer

    steps = [
        ("colour scales", lambda: write_styles(out)),
        ("sidecars + qml", lambda: (write_class_sidecars(out), write_qml_styles(out))),
        ("area tables", lambda: write_area_tables(out)),
        ("plates", lambda: render_plates(out, dpi=args.dpi, workers=os.cpu_count() or 1)),
        ("PDF atlas", lambda: write_atlas_pdf(out)),
        ("viewer", lambda: write_viewer(out)),
        ("STAC catalog", lambda: write_catalog(out)),
    ]
    print(f"{'product':<16}{'seconds':>9}")
    total = 0.0
    seconds = {}
    for name, step in steps:
        t0 = time.perf_counter()
        step()
        dt = time.perf_counter() - t0
        total += dt
        seconds[name] = dt
        print(f"{name:<16}{dt:>9.1f}", flush=True)
    print(f"{'total':<16}{total:>9.1f}   (target: plates + PDF + viewer <= 60 s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak resident memory: {peak:.2f} GB")
    n = len(list((out / "plates").glob("*.png")))
    print(f"plates: {n} PNG, {_size_mb(out / 'plates'):.1f} MB at {args.dpi} dpi")
    print(f"atlas.pdf: {_size_mb(out / 'atlas.pdf'):.1f} MB (target < 50 MB)")
    print(f"viewer (index.html + viewer/): {_size_mb(out / 'viewer') + _size_mb(out / 'index.html'):.1f} MB")
    fp = first_paint(out)
    if fp is None:
        print("first paint: not measured (needs /usr/bin/chromium and playwright: `make test` installs them)")
    else:
        print(f"viewer from `pfatlas serve`: first contentful paint {fp[1]:.0f} ms, first map image "
              f"{fp[2]:.0f} ms, page to image {fp[0]:.2f} s (target: first paint < 2 s)")  # fmt: skip

    save(
        args,
        "products",
        {
            "size": args.size,
            "dpi": args.dpi,
            "seconds": seconds,
            "total_seconds": total,
            "target_seconds": 60.0,
            "peak_gb": peak,
            "plates": n,
            "plates_mb": _size_mb(out / "plates"),
            "pdf_mb": _size_mb(out / "atlas.pdf"),
            "viewer_mb": _size_mb(out / "viewer") + _size_mb(out / "index.html"),
            "first_paint": None
            if fp is None
            else {"page_to_image_s": fp[0], "first_contentful_paint_ms": fp[1], "first_image_ms": fp[2]},
        },
    )


if __name__ == "__main__":
    main()
