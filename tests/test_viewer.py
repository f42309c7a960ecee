"""The browser viewer: what write_viewer writes, the local server, and the page in real Chromium.

The file tests read the viewer's outputs back (images against the shared colour scales, value
tiles against the COGs). The server tests send raw HTTP requests, so that traversal attempts
reach the server unnormalised. The browser tests drive Debian's /usr/bin/chromium through
Playwright (never a downloaded browser) on the page served by `pfatlas serve` and opened from
file://, and compare what a click shows with the rasters read by rasterio.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer

import pfatlas.atlas.viewer as viewer
from atlas_fixture import DUMP, PIT, SHAPE, make_atlas
from pfatlas.atlas import vendor
from pfatlas.atlas.serve import make_server, server_url
from pfatlas.atlas.style import colorize, resolve_styles
from pfatlas.atlas.viewer import atlas_layers, decode_codes, encode_codes, quantisation, write_viewer
from pfatlas.cli.main import main
from pfatlas.errors import InputError, MissingInputError
from terminal import default_sigint

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def _manifest(out: Path) -> dict:
    text = (out / "viewer" / "data" / "atlas.js").read_text(encoding="utf-8")
    assert text.startswith("window.PFATLAS = ") and text.rstrip().endswith(";")
    return json.loads(text.strip()[len("window.PFATLAS = ") : -1])


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        a = src.read(1)
    return a


def _tile_values(out: Path, layer: dict, group: str, shape: tuple[int, int], tile: int) -> np.ndarray:
    """Reassemble the value tiles of one layer file as the page decodes them."""
    f = layer["files"][group]
    full = np.zeros(shape, dtype=np.float64)
    for ti in range(math.ceil(shape[0] / tile)):
        for tj in range(math.ceil(shape[1] / tile)):
            js = (out / "viewer" / "values" / f["key"] / f"{ti}_{tj}.js").read_text()
            m = re.fullmatch(r'PFV_TILE\("([^"]+)",(\d+),(\d+),"([A-Za-z0-9+/=]*)"\);\n', js)
            assert m and m.group(1) == f["key"] and (int(m.group(2)), int(m.group(3))) == (ti, tj)
            raw = base64.b64decode(m.group(4))
            rs = slice(ti * tile, min((ti + 1) * tile, shape[0]))
            cs = slice(tj * tile, min((tj + 1) * tile, shape[1]))
            h, w = rs.stop - rs.start, cs.stop - cs.start
            if layer["kind"] == "class":
                import zlib

                v = np.frombuffer(zlib.decompress(raw), dtype=np.uint8).reshape(h, w).astype(np.float64)
            else:
                codes = decode_codes(raw, (h, w))
                v = np.where(codes == -32768, np.nan, f["offset"] + codes * f["step"])
            full[rs, cs] = v
    return full


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    """The tiny atlas with its viewer (full resolution, one tile per layer)."""
    out = make_atlas(tmp_path_factory.mktemp("viewer") / "atlas")
    write_viewer(out)
    return out


@pytest.fixture(scope="module")
def coarse_atlas(tmp_path_factory):
    """The tiny atlas with a viewer at 1:3 in tiles of 8 display pixels (partial tiles at the edges)."""
    out = make_atlas(tmp_path_factory.mktemp("viewer") / "atlas")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(viewer, "TILE", 8)
        write_viewer(out, display_max=40)
    return out


# ---------------------------------------------------------------------------------------- files


def test_viewer_structure(atlas):
    html = (atlas / "index.html").read_text(encoding="utf-8")
    assert "<title>tiny test atlas (synthetic) · pfatlas viewer (SYNTHETIC)</title>" in html
    for rel in (
        "lib/leaflet.js",
        "lib/leaflet.css",
        "lib/LICENSE",
        "viewer.js",
        "viewer.css",
        "data/atlas.js",
    ):
        assert (atlas / "viewer" / rel).is_file(), rel
        assert f"viewer/{rel}" in html or rel.startswith(("lib/LICENSE", "data/")) or rel == "lib/leaflet.css"
    assert "viewer/lib/leaflet.css" in html and "viewer/data/atlas.js" in html
    assert not list(atlas.glob(".viewer*")) and not list(atlas.glob(".index*"))

    m = _manifest(atlas)
    assert m["title"] == "tiny test atlas (synthetic)" and m["synthetic"] is True
    assert m["grid"] == {"width": 96, "height": 64, "x0": 540000.0, "y0": 4210000.0, "dx": 30.0, "dy": 30.0,
                         "crs": "EPSG:32647", "factor": 1, "displayWidth": 96, "displayHeight": 64}  # fmt: skip
    assert [g["id"] for g in m["groups"]] == ["2000", "2020", "change/2000_2020", "grid"]
    names = [lay["name"] for lay in m["layers"]]
    assert names[:2] == ["landcover", "magt"] and names[-2:] == ["dem", "geomorphology"]
    assert set(m["layers"][names.index("mining_zone")]["files"]) == {"2020"}
    # every atlas raster has its image, at the display size, and nothing else is listed
    keys = {f["key"] for lay in m["layers"] for f in lay["files"].values()}
    assert keys == {lf.key for lf in atlas_layers(atlas)} and len(keys) == 2 * 10 + 3 + 3 + 2
    for lay in m["layers"]:
        for f in lay["files"].values():
            with Image.open(atlas / f["image"]) as im:
                assert im.size == (96, 64) and im.mode == "P"
    # boreholes and mining outlines
    assert [b["id"] for b in m["boreholes"]] == ["BH01", "BH02", "BH03", "BH04"]
    assert m["boreholes"][0]["alt"] is None and m["boreholes"][1]["setting"] == "mined"
    assert m["mining"]["epoch"] == "2020"
    bounds = {}
    for feat in m["mining"]["features"]:
        xy = np.array(feat["rings"][0])
        bounds[feat["code"]] = (xy[:, 0].min(), xy[:, 1].max(), xy[:, 0].max(), xy[:, 1].min())
    for code, (rows, cols) in ((1, PIT), (2, DUMP)):
        assert bounds[code] == (540000 + 30 * cols.start, 4210000 - 30 * rows.start,
                                540000 + 30 * cols.stop, 4210000 - 30 * rows.stop)  # fmt: skip


def test_images_and_legends_use_the_atlas_styles(atlas):
    styles = resolve_styles(atlas)
    m = _manifest(atlas)
    for lay in m["layers"]:
        style = styles[lay["name"]]
        assert lay["kind"] == style.kind and lay["title"] == style.title
        for group, f in lay["files"].items():
            data = _read(atlas / f"{f['key']}.tif")
            with Image.open(atlas / f["image"]) as im:
                rgba = np.asarray(im.convert("RGBA"))
            expected = colorize(data, style)
            n_colours = np.unique(expected.reshape(-1, 4), axis=0).shape[0]
            if n_colours <= 256:  # a palette PNG holds up to 256 colours exactly
                np.testing.assert_array_equal(rgba, expected, err_msg=f"{f['key']} ({group})")
            else:  # a full 256-step scale and transparent: the rarest colour takes a neighbour's
                diff = np.abs(rgba.astype(int) - expected.astype(int)).max(axis=2)
                assert diff.max() <= viewer.PALETTE_TOLERANCE, f["key"]
                assert (diff > 0).mean() < 0.01, f["key"]
        if style.kind == "class":
            assert lay["legend"]["classes"] == [[c, n, col] for c, (n, col) in style.classes.items()]
        else:
            lg = lay["legend"]
            assert (lg["vmin"], lg["vmax"], lg["center"]) == (style.vmin, style.vmax, style.center)
            ends = colorize(np.array([style.vmin, style.vmax]), style)
            hexes = ["#" + "".join(f"{c:02x}" for c in rgb) for rgb in ends[:, :3].tolist()]
            assert (lg["colors"][0], lg["colors"][-1]) == (hexes[0], hexes[1])


def test_value_tiles_decode_to_the_cog_values(atlas):
    m = _manifest(atlas)
    for lay in m["layers"]:
        for group, f in lay["files"].items():
            cog = _read(atlas / f"{f['key']}.tif").astype(np.float64)
            got = _tile_values(atlas, lay, group, SHAPE, viewer.TILE)
            if lay["kind"] == "class":
                np.testing.assert_array_equal(got, cog)
            else:
                np.testing.assert_array_equal(np.isnan(got), np.isnan(cog))
                # rounding to the layer's step, plus float error of offset + code * step
                ok = np.isfinite(cog)
                assert np.abs(got[ok] - cog[ok]).max() <= f["step"] / 2 + 1e-9 * max(
                    1.0, np.abs(cog[ok]).max()
                )
                assert f["decimals"] == max(0, -round(math.log10(f["step"])))


def test_display_copy_at_a_coarser_factor(coarse_atlas):
    m = _manifest(coarse_atlas)
    g = m["grid"]
    assert (g["factor"], g["displayHeight"], g["displayWidth"]) == (3, 22, 32)
    assert m["values"]["tile"] == 8
    lay = next(lay for lay in m["layers"] if lay["name"] == "magt")
    cog = _read(coarse_atlas / "2020" / "magt.tif")[::3, ::3]
    got = _tile_values(coarse_atlas, lay, "2020", (22, 32), 8)
    np.testing.assert_allclose(got, cog, atol=lay["files"]["2020"]["step"] / 2 + 1e-9)
    with Image.open(coarse_atlas / lay["files"]["2020"]["image"]) as im:
        assert im.size == (32, 22)
    # 3 x 4 tiles, the last row and column partial
    assert len(list((coarse_atlas / "viewer" / "values" / "2020" / "magt").glob("*.js"))) == 12


@pytest.mark.parametrize(
    ("vmin", "vmax", "lo", "hi", "step", "offset"),
    [
        (-4.0, 4.0, -6.3, 3.1, 0.01, -1.6),
        (0.0, 1.0, 0.0, 1.0, 0.001, 0.5),
        (3000.0, 5000.0, 2900.0, 5100.0, 1.0, 4000.0),
        (0.0, 1.0, -1000.0, 1000.0, 0.1, 0.0),
    ],  # fmt: skip
)
def test_quantisation_fits_int16(vmin, vmax, lo, hi, step, offset):
    assert quantisation(vmin, vmax, lo, hi) == (step, offset)
    assert (hi - lo) / step <= 65000


def test_codes_round_trip_through_wrapping_differences():
    rng = np.random.default_rng(1)
    codes = rng.integers(-32768, 32768, size=(17, 33)).astype(np.int16)
    codes[0, :4] = [32767, -32767, -32768, 32767]  # differences overflow int16
    np.testing.assert_array_equal(decode_codes(encode_codes(codes), codes.shape), codes)


def test_png_is_a_palette_when_the_colours_allow_and_exact_otherwise():
    def back(png: bytes) -> tuple[str, np.ndarray]:
        with Image.open(io.BytesIO(png)) as im:
            return im.mode, np.asarray(im.convert("RGBA"))

    ramp = np.zeros((4, 256, 4), dtype=np.uint8)
    ramp[..., 0], ramp[..., 3] = np.arange(256), 255
    mode, rgba = back(viewer._png(ramp))
    assert mode == "P"
    np.testing.assert_array_equal(rgba, ramp)
    # 256 common colours and one rare colour one step from another: palette, within the tolerance
    near = ramp.copy()
    near[0, 0] = [3, 1, 0, 255]
    mode, rgba = back(viewer._png(near))
    assert mode == "P" and np.abs(rgba.astype(int) - near).max() <= viewer.PALETTE_TOLERANCE
    # 512 colours far apart: an exact RGBA image
    far = np.zeros((2, 256, 4), dtype=np.uint8)
    far[..., 0], far[..., 3] = np.arange(256), 255
    far[1, :, 1] = 255
    mode, rgba = back(viewer._png(far))
    assert mode == "RGBA"
    np.testing.assert_array_equal(rgba, far)


def test_rewrite_replaces_and_failure_keeps_the_old_viewer(tmp_path, monkeypatch):
    out = make_atlas(tmp_path / "atlas")
    write_viewer(out)
    (out / "viewer" / "stale.txt").write_text("old")
    write_viewer(out)
    assert not (out / "viewer" / "stale.txt").exists()
    before = (out / "viewer" / "data" / "atlas.js").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(viewer, "_png", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_viewer(out)
    assert (out / "viewer" / "data" / "atlas.js").read_text() == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(MissingInputError, match="no atlas layer found"):
        write_viewer(tmp_path)
    monkeypatch.setattr(viewer, "leaflet_dir", lambda: vendor.leaflet_dir(tmp_path / "nowhere"))
    with pytest.raises(MissingInputError, match=r"python -m pfatlas\.atlas\.vendor"):
        write_viewer(tmp_path)


def test_off_grid_layer_is_refused(tmp_path):
    out = make_atlas(tmp_path / "atlas")
    with rasterio.open(out / "grid" / "dem.tif") as src:
        profile = src.profile | {"width": 50, "driver": "GTiff"}
        data = src.read(1)[:, :50]
    with rasterio.open(out / "grid" / "dem.tif", "w", **profile) as dst:
        dst.write(data, 1)
    with pytest.raises(InputError, match="not on the atlas grid"):
        write_viewer(out)


# ---------------------------------------------------------------------------------------- vendor


def _fake_package(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def _sri(data: bytes) -> str:
    import hashlib

    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_vendor_checks_integrity_and_extracts_only_the_kept_files(tmp_path, monkeypatch):
    data = _fake_package(
        {
            "package/dist/leaflet.js": b"js",
            "package/dist/leaflet.css": b"css",
            "package/LICENSE": b"BSD",
            "package/dist/images/layers.png": b"png",
            "package/src/Leaflet.js": b"src",
            "package/dist/images/../../../evil.txt": b"x",
        },  # fmt: skip
        links={"package/dist/images/link.png": "/etc/passwd"},
    )
    dest = tmp_path / "lib" / "leaflet"
    with pytest.raises(ValueError, match="integrity check failed"):
        vendor.install_tarball(data, _sri(data + b"!"), dest)
    assert not (tmp_path / "lib").exists()  # nothing written

    vendor.install_tarball(data, _sri(data), dest)
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == [".integrity", "LICENSE", "images/layers.png", "leaflet.css", "leaflet.js"]
    assert (dest / "leaflet.js").read_bytes() == b"js" and not (tmp_path / "evil.txt").exists()

    # installed with the same integrity: no download at all
    def no_network(*args, **kwargs):
        raise AssertionError("downloaded although installed")

    monkeypatch.setattr(vendor.urllib.request, "urlopen", no_network)
    assert vendor.fetch_leaflet(dest, integrity=_sri(data)) == dest


def test_vendored_leaflet_matches_the_pinned_release():
    """`make test` fetched it; the stamp says it passed the integrity check of the pinned version."""
    lib = vendor.leaflet_dir()
    assert (lib / ".integrity").read_text().strip() == vendor.LEAFLET_INTEGRITY
    assert "Leaflet 1.9.4" in (lib / "leaflet.js").read_text(encoding="utf-8")[:300]


# ---------------------------------------------------------------------------------------- server


@pytest.fixture(scope="module")
def server(atlas):
    srv = make_server(atlas, port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(srv, path: str, host: str | None = None) -> tuple[int, bytes, http.client.HTTPMessage]:
    """A raw GET (the path is sent as written, not normalised by a client)."""
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.headers  # case-insensitive
    finally:
        conn.close()


def test_server_binds_loopback_and_serves_the_viewer(server, atlas):
    assert server.server_address[0] == "127.0.0.1"
    assert server_url(server) == f"http://127.0.0.1:{server.server_address[1]}/"
    status, body, headers = _get(server, "/")
    assert status == 200 and body == (atlas / "index.html").read_bytes()
    assert headers["Content-Type"].startswith("text/html")
    status, body, _ = _get(server, "/viewer/data/atlas.js")
    assert status == 200 and body.startswith(b"window.PFATLAS = ")


def test_server_refuses_paths_outside_the_folder(server, atlas, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    (atlas / "link.txt").symlink_to(secret)
    (atlas / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    (atlas / ".hidden").write_text("hidden")
    attempts = [
        "/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd",
        "/%252e%252e/etc/passwd", "/viewer/../../../etc/passwd", "/./../etc/passwd", "//etc/passwd",
        "/..\\..\\etc\\passwd", "/link.txt", "/linkdir/secret.txt", "/%2e%2e/" + secret.name,
        "/.hidden", "/viewer/%00", "/viewer/", "/tables/",
    ]  # fmt: skip
    try:
        for path in attempts:
            status, body, _ = _get(server, path)
            assert status in (403, 404), (path, status)
            assert b"TOP SECRET" not in body and b"root:" not in body, path
    finally:
        for name in ("link.txt", "linkdir", ".hidden"):
            (atlas / name).unlink()
    # a page on another origin that resolves to 127.0.0.1 (DNS rebinding) gets nothing
    assert _get(server, "/", host="evil.example:80")[0] == 403
    assert _get(server, "/api/cell?row=1&col=1", host="evil.example")[0] == 403


def test_server_gives_exact_cell_values(server, atlas):
    status, body, headers = _get(server, "/api/cell?row=25&col=35")
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert (doc["row"], doc["col"]) == (25, 35)
    assert set(doc["values"]) == {lf.key for lf in atlas_layers(atlas)}
    for key, value in doc["values"].items():
        cell = _read(atlas / f"{key}.tif")[25, 35]
        if isinstance(cell, np.floating) and np.isnan(cell):
            assert value is None, key
        elif np.issubdtype(cell.dtype, np.integer):
            assert value == (None if cell == 255 else int(cell)), key
        else:
            assert value == float(cell), key  # float32 -> JSON -> float64 is exact
    for bad in (
        "/api/cell?row=x&col=1",
        "/api/cell?row=1",
        "/api/cell?row=64&col=0",
        "/api/cell?row=-1&col=0",
    ):
        assert _get(server, bad)[0] == 400, bad


def test_server_refuses_other_hosts_missing_viewer_and_busy_port(server, atlas, tmp_path):
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        with pytest.raises(InputError, match="binds 127.0.0.1 only"):
            make_server(atlas, host=host)
    with pytest.raises(MissingInputError, match="index.html missing"):
        make_server(tmp_path)
    with pytest.raises(InputError, match="--port"):
        make_server(atlas, port=server.server_address[1])


def test_cli_serve_help_and_errors(tmp_path, capsys):
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and "--port" in out
    assert main(["serve", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "index.html missing" in err and "Traceback" not in err


def test_cli_serve_runs_until_interrupted(atlas):
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pfatlas.cli.main", "serve", str(atlas), "--port", "0"]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=default_sigint
    ) as proc:
        try:
            line = proc.stdout.readline()
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            assert m, line
            conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=10)
            conn.request("GET", "/index.html")
            resp = conn.getresponse()
            assert resp.status == 200 and b"pfatlas viewer" in resp.read()
            conn.close()
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"Debian chromium not found at {CHROMIUM}: install it with `apt-get install chromium` "
            "(`make test` does so when run as root)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright missing: pip install -e '.[test]'"
    )
    import tempfile

    profile = tempfile.mkdtemp(prefix="pfatlas-chromium-")
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 800},
        )  # fmt: skip
        yield ctx
        ctx.close()
    import shutil

    shutil.rmtree(profile, ignore_errors=True)


class _Page:
    """A page that records console errors, page errors and every request it makes."""

    def __init__(self, ctx, url: str):
        self.page = ctx.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        t0 = time.perf_counter()
        self.page.goto(url)
        self.page.wait_for_function("window.PFV && PFV.timing.firstImage !== null", timeout=15000)
        self.load_s = time.perf_counter() - t0

    def click_cell(self, row: int, col: int) -> dict:
        pt = self.page.evaluate(f"PFV.cellPoint({row}, {col})")
        box = self.page.locator("#map").bounding_box()
        self.page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
        self.page.wait_for_selector(f'#values[data-state="done"][data-row="{row}"][data-col="{col}"]')
        return self.page.evaluate(
            """() => {
                const box = document.getElementById("values");
                const rows = {};
                for (const tr of box.querySelectorAll("tr[data-key]"))
                    rows[tr.dataset.key] = [tr.dataset.value, tr.querySelector("td.v").textContent];
                return {mode: box.dataset.mode, row: +box.dataset.valueRow, col: +box.dataset.valueCol,
                        lon: +box.dataset.lon, lat: +box.dataset.lat, rows};
            }"""
        )

    def overlay_src(self, slot: str) -> str | None:
        return self.page.evaluate(
            f"PFV.overlays.{slot} && PFV.overlays.{slot}.getElement().getAttribute('src')"
        )

    def wait_images(self) -> None:
        self.page.wait_for_function(
            "[...document.querySelectorAll('img.pf-raster')].every(i => i.complete && i.naturalWidth > 0)"
        )


def _check_values(shown: dict, atlas: Path, row: int, col: int, tolerance_of) -> None:
    """Every value the page shows equals the COG value of (row, col) within tolerance_of(key)."""
    assert shown["rows"], "no values shown"
    for key, (value, text) in shown["rows"].items():
        cell = _read(atlas / f"{key}.tif")[row, col]
        if np.issubdtype(cell.dtype, np.integer):
            assert value == ("" if cell == 255 else str(int(cell))), key
            assert text.endswith(f"({int(cell)})") or cell == 255, (key, text)
        elif np.isnan(cell):
            assert value == "" and text == "no data", key
        else:
            assert abs(float(value) - float(cell)) <= tolerance_of(key), (key, value, float(cell))


def test_browser_from_the_server(browser, server, atlas):
    url = server_url(server)
    p = _Page(browser, url)
    page = p.page
    paint = page.evaluate("performance.getEntriesByType('paint').map(e => [e.name, e.startTime])")
    first_image_ms = page.evaluate("PFV.timing.firstImage")
    print(f"\nviewer from {url}: load {p.load_s:.2f} s, paint {paint}, first image {first_image_ms:.0f} ms")
    assert page.title() == "tiny test atlas (synthetic) · pfatlas viewer (SYNTHETIC)"
    assert page.is_visible("#synthetic") and page.inner_text("#title") == "tiny test atlas (synthetic)"

    # switching the layer changes the image and what the map shows
    p.wait_images()
    assert p.overlay_src("a") == "viewer/img/2020/permafrost.png"
    before = page.locator("#map").screenshot()
    page.select_option("#layer", "magt")
    p.wait_images()
    assert p.overlay_src("a") == "viewer/img/2020/magt.png"
    assert page.locator("#map").screenshot() != before
    assert "Mean annual ground temperature [°C]" in page.inner_text("#legend")
    page.select_option("#epoch", "2000")
    assert p.overlay_src("a") == "viewer/img/2000/magt.png"

    # a click shows the exact values of the cell in every layer of the epoch, the change and the grid
    shown = p.click_cell(25, 35)
    assert shown["mode"] == "exact" and (shown["row"], shown["col"]) == (25, 35)
    assert {k.split("/")[0] for k in shown["rows"]} == {"2000", "change", "grid"}
    _check_values(shown, atlas, 25, 35, lambda key: 0.0)
    assert shown["rows"]["2000/landcover"][1] == "alpine meadow (2)"
    lon, lat = Transformer.from_crs(32647, 4326, always_xy=True).transform(
        540000 + 35.5 * 30, 4210000 - 25.5 * 30
    )
    assert abs(shown["lon"] - lon) < 1e-6 and abs(shown["lat"] - lat) < 1e-6

    # swipe: epoch 2000 left, 2020 right of a draggable divider that clips the right image
    page.check("#swipe")
    p.wait_images()
    assert (
        p.overlay_src("a") == "viewer/img/2000/magt.png" and p.overlay_src("b") == "viewer/img/2020/magt.png"
    )
    assert page.is_visible("#swipe-divider")
    clip = page.evaluate("PFV.map.getPane('pf-b').style.clip")
    assert clip.startswith("rect(")
    handle = page.locator("#swipe-divider .handle").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(handle["x"] - 150, handle["y"] + handle["height"] / 2, steps=5)
    page.mouse.up()
    assert page.evaluate("PFV.state.divider") < 0.45
    assert page.evaluate("PFV.map.getPane('pf-b').style.clip") != clip
    shown = p.click_cell(40, 55)  # both epochs are listed in swipe mode
    assert {"2000/magt", "2020/magt"} <= set(shown["rows"])
    _check_values(shown, atlas, 40, 55, lambda key: 0.0)
    page.uncheck("#swipe")
    assert p.overlay_src("b") is None and not page.is_visible("#swipe-divider")

    # opacity acts on the image
    page.locator("#opacity").fill("40")
    assert page.evaluate("PFV.overlays.a.getElement().style.opacity") == "0.4"
    assert page.inner_text("#opacity-out") == "40 %"

    # boreholes are drawn, with their tooltip; the scale bar is in metres
    assert page.locator("path.leaflet-interactive").count() == 4
    box = page.locator("#map").bounding_box()
    for row, col in ((62, 2), (25, 35)):  # away from every borehole, then onto BH02 (centre of its cell)
        pt = page.evaluate(f"PFV.cellPoint({row}, {col})")
        page.mouse.move(box["x"] + pt["x"], box["y"] + pt["y"])
    # the tooltip of the borehole left fades out in 0.2 s; then only BH02's remains
    page.wait_for_function("document.querySelectorAll('.leaflet-tooltip').length === 1")
    assert page.inner_text(".leaflet-tooltip") == "BH02 (mined, 2012)\nMAGT -1.20 °C · ALT 2.40 m"
    assert re.fullmatch(r"\d+ k?m", page.inner_text(".leaflet-control-scale-line"))
    assert p.errors == [], p.errors
    assert all(u.startswith(url) or u.startswith("data:") for u in p.requests), p.requests
    page.close()


def test_browser_from_disk(browser, coarse_atlas):
    url = (coarse_atlas / "index.html").as_uri()
    p = _Page(browser, url)
    m = _manifest(coarse_atlas)
    steps = {f["key"]: f.get("step", 0.0) for lay in m["layers"] for f in lay["files"].values()}
    # cells in an inner tile, in the partial last tile, and a cell that is not its block's first
    for row, col in ((10, 20), (63, 95), (35, 52)):
        shown = p.click_cell(row, col)
        assert shown["mode"] == "display"
        r0, c0 = 3 * (row // 3), 3 * (col // 3)
        assert (shown["row"], shown["col"]) == (r0, c0)
        _check_values(shown, coarse_atlas, r0, c0, lambda key: steps[key] / 2 + 1e-9)
    p.page.select_option("#layer", "delta_magt")
    assert p.overlay_src("a") == "viewer/img/change/2000_2020/delta_magt.png"
    assert p.page.is_disabled("#swipe")  # one period only
    p.wait_images()
    assert p.errors == [], p.errors
    assert all(u.startswith("file://") or u.startswith("data:") for u in p.requests), p.requests
    p.page.close()
