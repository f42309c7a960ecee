/*
 * pfatlas atlas viewer.
 *
 * Plain JavaScript on Leaflet, no build step. Everything comes from files beside index.html, so the
 * page works opened from disk (file://) and from `pfatlas serve OUT`:
 *   viewer/data/atlas.js      window.PFATLAS: grid, layers with legends and images, boreholes, ...
 *   viewer/img/<key>.png      one image per layer and epoch, drawn on the atlas colour scales
 *   viewer/values/<key>/*.js  value tiles for clicks from file:// (display resolution, rounded)
 * From `pfatlas serve` a click asks the server (api/cell) for the exact values of the cell instead.
 *
 * The map uses the atlas grid's own projected coordinates (metres): Leaflet's "lat" is the
 * northing y and "lng" the easting x, and zoom 0 draws one cell per screen pixel.
 */
(function () {
  "use strict";

  const A = window.PFATLAS;
  const $ = (id) => document.getElementById(id);

  if (!A || !window.L) {
    $("values").textContent = "The viewer's data or map library is missing: rebuild the atlas (pfatlas build).";
    return;
  }
  const G = A.grid;

  /** A DOM element with properties (text always as textContent, never parsed as HTML) and children. */
  function el(tag, props, children) {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const c of children || []) e.append(c);
    return e;
  }

  /* ---------------------------------------------------------------- grid and coordinates */

  const extent = L.latLngBounds([G.y0 - G.height * G.dy, G.x0], [G.y0, G.x0 + G.width * G.dx]);
  // a display pixel covers factor x factor cells; the last row/column of pixels may reach past the grid
  const imageBounds = L.latLngBounds(
    [G.y0 - G.displayHeight * G.factor * G.dy, G.x0],
    [G.y0, G.x0 + G.displayWidth * G.factor * G.dx]
  );

  function cellAt(latlng) {
    const col = Math.floor((latlng.lng - G.x0) / G.dx);
    const row = Math.floor((G.y0 - latlng.lat) / G.dy);
    return row >= 0 && row < G.height && col >= 0 && col < G.width ? { row, col } : null;
  }

  function cellBounds(row, col) {
    const south = G.y0 - (row + 1) * G.dy;
    const west = G.x0 + col * G.dx;
    return L.latLngBounds([south, west], [south + G.dy, west + G.dx]);
  }

  /** Index k and fraction t with nodes[k] + t (nodes[k+1] - nodes[k]) = v (nodes ascending). */
  function bracket(nodes, v) {
    if (nodes.length < 2) return [0, 0];
    let k = 0;
    while (k < nodes.length - 2 && nodes[k + 1] <= v) k++;
    return [k, (v - nodes[k]) / (nodes[k + 1] - nodes[k])];
  }

  /** Lon/lat [deg] of a cell centre, bilinear between the nodes of the lattice computed with PROJ. */
  function lonLat(row, col) {
    const T = A.lonlat;
    const nc = T.cols.length;
    const [i, s] = bracket(T.rows, row);
    const [j, t] = bracket(T.cols, col);
    const i1 = Math.min(i + 1, T.rows.length - 1);
    const j1 = Math.min(j + 1, nc - 1);
    const bil = (a) =>
      (1 - s) * ((1 - t) * a[i * nc + j] + t * a[i * nc + j1]) + s * ((1 - t) * a[i1 * nc + j] + t * a[i1 * nc + j1]);
    return [bil(T.lon), bil(T.lat)];
  }

  /* ---------------------------------------------------------------- layers and state */

  const layerByName = new Map(A.layers.map((l) => [l.name, l]));
  const groupById = new Map(A.groups.map((g) => [g.id, g]));
  const groupOrder = A.groups.map((g) => g.id);
  const groupsOf = (layer) => groupOrder.filter((g) => g in layer.files);
  const firstOf = (section) => A.groups.filter((g) => g.section === section).map((g) => g.id);

  const epochs = firstOf("epoch");
  const state = {
    layer: layerByName.has("permafrost") ? "permafrost" : A.layers[0].name,
    group: { epoch: epochs[epochs.length - 1], change: firstOf("change")[0], grid: "grid" },
    swipe: false,
    groupB: null,
    opacity: Number($("opacity").value) / 100,
    divider: 0.5,
    cell: null,
  };
  const current = () => layerByName.get(state.layer);

  /** The group (epoch, change period or grid) shown for the current layer (left of the divider). */
  function currentGroup() {
    const layer = current();
    const groups = groupsOf(layer);
    const g = state.group[layer.section];
    return groups.includes(g) ? g : groups[groups.length - 1];
  }

  /* ---------------------------------------------------------------- the map */

  const crs = L.extend({}, L.CRS.Simple, {
    transformation: new L.Transformation(1 / G.dx, -G.x0 / G.dx, -1 / G.dy, G.y0 / G.dy),
  });
  const map = L.map("map", {
    crs,
    zoomSnap: 0.25,
    zoomDelta: 0.5,
    minZoom: -6,
    maxZoom: 6,
    maxBounds: extent.pad(0.5),
  });
  map.attributionControl.addAttribution("pfatlas");
  L.control.scale({ imperial: false, maxWidth: 160 }).addTo(map);
  map.fitBounds(extent);
  map.createPane("pf-a").style.zIndex = 250; // epoch A (or the only one)
  map.createPane("pf-b").style.zIndex = 260; // epoch B in swipe mode, clipped to the right of the divider

  const timing = { start: performance.now(), firstImage: null };
  const overlays = { a: null, b: null };

  function setOverlay(slot, url) {
    const ov = overlays[slot];
    if (url === null) {
      if (ov) ov.remove();
      overlays[slot] = null;
      return;
    }
    if (ov) {
      if (ov.getElement().getAttribute("src") !== url) ov.setUrl(url);
      ov.setOpacity(state.opacity);
      return;
    }
    const pane = slot === "a" ? "pf-a" : "pf-b";
    const options = { pane, opacity: state.opacity, className: "pf-raster", interactive: false };
    const created = L.imageOverlay(url, imageBounds, options);
    if (slot === "a" && timing.firstImage === null) {
      created.once("load", () => (timing.firstImage = performance.now()));
    }
    overlays[slot] = created.addTo(map);
  }

  /* ---------------------------------------------------------------- swipe divider */

  const tagLeft = el("span", { className: "tag left" });
  const tagRight = el("span", { className: "tag right" });
  const divider = el("div", { id: "swipe-divider", hidden: true, title: "Drag to compare" }, [
    el("div", { className: "handle" }),
    tagLeft,
    tagRight,
  ]);
  map.getContainer().append(divider);
  L.DomEvent.disableClickPropagation(divider);
  let dragging = false;
  divider.addEventListener("pointerdown", (e) => {
    dragging = true;
    divider.setPointerCapture(e.pointerId);
    e.preventDefault();
    e.stopPropagation();
  });
  divider.addEventListener("pointermove", (e) => {
    if (!dragging) return;
    const r = map.getContainer().getBoundingClientRect();
    state.divider = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    updateSwipe();
  });
  const endDrag = () => (dragging = false);
  divider.addEventListener("pointerup", endDrag);
  divider.addEventListener("pointercancel", endDrag);

  /** Clip epoch B's pane to the right of the divider (pane coordinates are Leaflet layer points). */
  function updateSwipe() {
    const pane = map.getPane("pf-b");
    divider.hidden = !state.swipe;
    if (!state.swipe) {
      pane.style.clip = "";
      return;
    }
    const size = map.getSize();
    const x = Math.round(size.x * state.divider);
    const nw = map.containerPointToLayerPoint([0, 0]);
    const se = map.containerPointToLayerPoint(size);
    const cut = map.containerPointToLayerPoint([x, 0]).x;
    pane.style.clip = `rect(${nw.y}px, ${se.x}px, ${se.y}px, ${cut}px)`;
    divider.style.left = `${x}px`;
  }
  map.on("move zoomend resize", updateSwipe);

  /* ---------------------------------------------------------------- boreholes and mining outlines */

  const fmtNum = (v, d) => (v === null || v === undefined ? "–" : v.toFixed(d));

  function boreholeTip(b) {
    return el("div", {}, [
      el("b", { textContent: b.id }),
      ` (${b.setting || "setting unknown"}${b.year ? ", " + b.year : ""})`,
      el("br"),
      `MAGT ${fmtNum(b.magt, 2)} °C · ALT ${fmtNum(b.alt, 2)} m`,
    ]);
  }

  const boreholes = L.layerGroup(
    A.boreholes.map((b) =>
      L.circleMarker([b.y, b.x], {
        radius: 5,
        weight: 1.5,
        color: "#ffffff",
        fillColor: b.setting === "mined" ? "#d7301f" : "#111111",
        fillOpacity: 0.9,
      }).bindTooltip(boreholeTip(b), { className: "pf-tooltip", direction: "top" })
    )
  ).addTo(map);

  const mining = L.layerGroup();
  if (A.mining && A.mining.features.length) {
    for (const f of A.mining.features) {
      const rings = f.rings.map((ring) => ring.map(([x, y]) => [y, x]));
      const style = { color: f.color, weight: 2, fill: false, dashArray: "6 4", interactive: false };
      mining.addLayer(L.polygon(rings, style));
    }
    mining.addTo(map);
    $("mining-label").textContent = `Mining outlines (${A.mining.epoch})`;
  } else {
    $("mining-row").hidden = true;
  }

  const cellMarker = L.rectangle(cellBounds(0, 0), { color: "#000", weight: 2, fill: false, interactive: false });

  /* ---------------------------------------------------------------- legend */

  function renderLegend() {
    const layer = current();
    const box = $("legend");
    const units = layer.unitsLabel ? ` [${layer.unitsLabel}]` : "";
    let where = groupById.get(currentGroup()).label;
    if (state.swipe) where += ` | ${groupById.get(state.groupB).label}`;
    box.replaceChildren(
      el("h2", { textContent: `${layer.title}${units}` }),
      el("p", { className: "hint", textContent: where })
    );
    const lg = layer.legend;
    if (layer.kind === "class") {
      box.append(
        el(
          "ul",
          {},
          lg.classes.map(([code, name, colour]) => {
            const sw = el("span", { className: "swatch" });
            sw.style.background = colour;
            return el("li", {}, [sw, `${name} (${code})`]);
          })
        )
      );
      return;
    }
    const canvas = el("canvas", { width: lg.colors.length, height: 1 });
    const ctx = canvas.getContext("2d");
    lg.colors.forEach((c, i) => {
      ctx.fillStyle = c;
      ctx.fillRect(i, 0, 1, 1);
    });
    const ticks = [lg.vmin, lg.center, lg.vmax].filter((v) => v !== null && v !== undefined);
    const labels = ticks.map((v) => el("span", { textContent: String(v) }));
    box.append(canvas, el("div", { className: "ticks" }, labels));
  }

  /* ---------------------------------------------------------------- values of a cell */

  // value tiles arrive as scripts calling PFV_TILE(key, ti, tj, base64) (fetch() of file:// is blocked)
  const tiles = new Map();
  const waiting = new Map();
  window.PFV_TILE = function (key, ti, tj, b64) {
    const id = `${key}|${ti}|${tj}`;
    const resolve = waiting.get(id);
    if (resolve) {
      waiting.delete(id);
      resolve(b64);
    }
  };

  async function inflate(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  /** int16 codes from row differences stored as a low byte plane then a high byte plane. */
  function undelta(bytes, h, w) {
    const n = h * w;
    const codes = new Int16Array(n);
    for (let r = 0; r < h; r++) {
      let acc = 0;
      for (let c = 0; c < w; c++) {
        const i = r * w + c;
        acc = ((acc + (bytes[i] | (bytes[n + i] << 8))) << 16) >> 16;
        codes[i] = acc;
      }
    }
    return codes;
  }

  function loadTile(layer, file, ti, tj, h, w) {
    const id = `${file.key}|${ti}|${tj}`;
    if (!tiles.has(id)) {
      const got = new Promise((resolve, reject) => {
        waiting.set(id, resolve);
        const s = document.createElement("script");
        s.src = `viewer/values/${file.key}/${ti}_${tj}.js`;
        s.onload = () => s.remove();
        s.onerror = () => {
          waiting.delete(id);
          s.remove();
          reject(new Error(`value tile ${s.src} is missing`));
        };
        document.head.append(s);
      });
      tiles.set(
        id,
        got.then(inflate).then((bytes) => (layer.kind === "class" ? bytes : undelta(bytes, h, w)))
      );
    }
    return tiles.get(id);
  }

  function decode(layer, file, code) {
    if (layer.kind === "class") return code === 255 ? null : code;
    return code === A.values.nodataCode ? null : file.offset + code * file.step;
  }

  /** Values of the wanted layer files at a cell: exact from the server, else from the display copy. */
  async function cellValues(row, col, wanted) {
    if (location.protocol === "http:" || location.protocol === "https:") {
      try {
        const r = await fetch(`api/cell?row=${row}&col=${col}`, { cache: "no-store" });
        if (r.ok) return { exact: true, row, col, values: (await r.json()).values };
      } catch (e) {
        // a plain static server: use the display copy below
      }
    }
    const f = G.factor;
    const T = A.values.tile;
    const dr = Math.floor(row / f);
    const dc = Math.floor(col / f);
    const ti = Math.floor(dr / T);
    const tj = Math.floor(dc / T);
    const h = Math.min(T, G.displayHeight - ti * T);
    const w = Math.min(T, G.displayWidth - tj * T);
    const i = (dr - ti * T) * w + (dc - tj * T);
    const values = {};
    await Promise.all(
      wanted.map(async ({ layer, file }) => {
        const codes = await loadTile(layer, file, ti, tj, h, w);
        values[file.key] = decode(layer, file, codes[i]);
      })
    );
    return { exact: false, row: dr * f, col: dc * f, values };
  }

  /** The layer files listed for a click: epoch layers of the shown epoch(s), every change, the grid. */
  function wantedSections() {
    const onEpoch = current().section === "epoch";
    const shown = [onEpoch ? currentGroup() : state.group.epoch];
    if (onEpoch && state.swipe && state.groupB !== shown[0]) shown.push(state.groupB);
    const sections = [];
    for (const g of A.groups) {
      if (g.section === "epoch" && !shown.includes(g.id)) continue;
      const rows = A.layers
        .filter((l) => l.section === g.section && g.id in l.files)
        .map((l) => ({ layer: l, file: l.files[g.id] }));
      if (rows.length) {
        const title = { epoch: `Epoch ${g.label}`, change: `Change ${g.label}`, grid: "Grid" }[g.section];
        sections.push({ title, rows });
      }
    }
    return sections;
  }

  function formatValue(layer, file, v, exact) {
    if (v === null || v === undefined || Number.isNaN(v)) return "no data";
    if (layer.kind === "class") {
      const c = layer.legend.classes.find(([code]) => code === v);
      return c ? `${c[1]} (${v})` : `code ${v}`;
    }
    let s = exact ? String(Number(v.toPrecision(6))) : v.toFixed(file.decimals);
    if (Number(s) === 0) s = s.replace("-", ""); // no "-0.00"
    return layer.unitsLabel ? `${s} ${layer.unitsLabel}` : s;
  }

  let clickSeq = 0;
  async function showCell(row, col) {
    const seq = ++clickSeq;
    const box = $("values");
    box.dataset.state = "loading";
    cellMarker.setBounds(cellBounds(row, col)).addTo(map);
    const sections = wantedSections();
    let res;
    try {
      res = await cellValues(row, col, sections.flatMap((s) => s.rows));
    } catch (e) {
      if (seq !== clickSeq) return;
      box.replaceChildren(el("p", { className: "note", textContent: `Could not read the values: ${e.message}` }));
      box.dataset.state = "error";
      return;
    }
    if (seq !== clickSeq) return;
    const [lon, lat] = lonLat(row, col);
    const x = G.x0 + (col + 0.5) * G.dx;
    const y = G.y0 - (row + 0.5) * G.dy;
    const where = el("p", { className: "where" }, [
      el("b", { textContent: `Cell row ${row}, col ${col}` }),
      el("br"),
      el("span", { className: "lonlat", textContent: `${lon.toFixed(6)}° E, ${lat.toFixed(6)}° N` }),
      el("br"),
      `x ${x.toFixed(1)}, y ${y.toFixed(1)} m (${G.crs})`,
    ]);
    const note = res.exact
      ? "Exact values of this cell, read from the atlas rasters by the server."
      : (G.factor > 1
          ? `From the viewer's copy at 1:${G.factor}: values of cell row ${res.row}, col ${res.col} ` +
            `(one cell of every ${G.factor} x ${G.factor} block), `
          : "From the viewer's copy: ") + "rounded to the decimals shown. `pfatlas serve` gives exact values.";
    const table = el("table");
    for (const s of sections) {
      table.append(el("tr", {}, [el("th", { colSpan: 2, textContent: s.title })]));
      for (const { layer, file } of s.rows) {
        const v = res.values[file.key];
        const tr = el("tr", {}, [
          el("td", { textContent: layer.title }),
          el("td", { className: "v", textContent: formatValue(layer, file, v, res.exact) }),
        ]);
        tr.dataset.key = file.key;
        tr.dataset.value = v === null || v === undefined ? "" : String(v);
        table.append(tr);
      }
    }
    box.replaceChildren(
      el("h2", { textContent: "Values" }),
      where,
      el("p", { className: "note", textContent: note }),
      table
    );
    Object.assign(box.dataset, {
      state: "done",
      mode: res.exact ? "exact" : "display",
      row,
      col,
      valueRow: res.row,
      valueCol: res.col,
      lon,
      lat,
    });
  }

  map.on("click", (e) => {
    const c = cellAt(e.latlng);
    if (!c) return;
    state.cell = c;
    showCell(c.row, c.col);
  });

  /* ---------------------------------------------------------------- controls */

  const layerSelect = $("layer");
  for (const [section, label] of [
    ["epoch", "Epoch layers"],
    ["change", "Change layers"],
    ["grid", "Grid (terrain)"],
  ]) {
    const layers = A.layers.filter((l) => l.section === section);
    const options = layers.map((l) => el("option", { value: l.name, textContent: l.title }));
    if (layers.length) layerSelect.append(el("optgroup", { label }, options));
  }

  function fillSelect(select, groups, value) {
    select.replaceChildren(...groups.map((g) => el("option", { value: g, textContent: groupById.get(g).label })));
    select.value = value;
  }

  /** Bring controls, images, legend and the value panel in line with the state. */
  function refresh() {
    const layer = current();
    const groups = groupsOf(layer);
    const gA = currentGroup();
    state.group[layer.section] = gA;
    if (groups.length < 2) state.swipe = false;
    if (state.swipe && !groups.includes(state.groupB)) state.groupB = groups[groups.length - 1];
    layerSelect.value = layer.name;
    fillSelect($("epoch"), groups, gA);
    $("epoch").disabled = groups.length < 2;
    const noun = layer.section === "change" ? "Period" : layer.section === "grid" ? "Grid layer" : "Epoch";
    $("epoch-label").textContent = state.swipe ? `${noun} left of the divider` : noun;
    $("swipe").checked = state.swipe;
    $("swipe").disabled = groups.length < 2;
    $("swipe-controls").hidden = !state.swipe;
    if (state.swipe) fillSelect($("epoch-b"), groups, state.groupB);
    setOverlay("a", layer.files[gA].image);
    setOverlay("b", state.swipe ? layer.files[state.groupB].image : null);
    tagLeft.textContent = groupById.get(gA).label;
    tagRight.textContent = state.swipe ? groupById.get(state.groupB).label : "";
    updateSwipe();
    renderLegend();
    if (state.cell) showCell(state.cell.row, state.cell.col);
  }

  layerSelect.addEventListener("change", () => {
    state.layer = layerSelect.value;
    refresh();
  });
  $("epoch").addEventListener("change", () => {
    state.group[current().section] = $("epoch").value;
    refresh();
  });
  $("epoch-b").addEventListener("change", () => {
    state.groupB = $("epoch-b").value;
    refresh();
  });
  $("swipe").addEventListener("change", () => {
    const groups = groupsOf(current());
    state.swipe = $("swipe").checked && groups.length > 1;
    if (state.swipe) {
      // earlier epoch left, later right
      state.group[current().section] = groups[0];
      state.groupB = groups[groups.length - 1];
    }
    refresh();
  });
  const opacityOut = $("opacity-out");
  $("opacity").addEventListener("input", () => {
    state.opacity = Number($("opacity").value) / 100;
    opacityOut.textContent = `${Math.round(state.opacity * 100)} %`;
    for (const ov of Object.values(overlays)) if (ov) ov.setOpacity(state.opacity);
  });
  opacityOut.textContent = `${Math.round(state.opacity * 100)} %`;
  const toggle = (id, layer) =>
    $(id).addEventListener("change", () => ($(id).checked ? layer.addTo(map) : layer.remove()));
  toggle("boreholes", boreholes);
  toggle("mining", mining);

  $("title").textContent = A.title;
  $("synthetic").hidden = !A.synthetic;
  refresh();

  // for scripting and the browser tests
  window.PFV = {
    map,
    state,
    overlays,
    timing,
    refresh,
    lonLat,
    /** Container pixel of the centre of cell (row, col). */
    cellPoint(row, col) {
      const p = map.latLngToContainerPoint([G.y0 - (row + 0.5) * G.dy, G.x0 + (col + 0.5) * G.dx]);
      return { x: p.x, y: p.y };
    },
  };
})();
