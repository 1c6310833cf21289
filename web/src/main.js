// The page of `rampart map`: the shared picture, live from the map node's server-sent events.
import L from "leaflet";
import ms from "milsymbol";
import { feature, mesh } from "topojson-client";

const TRAIL_POINTS = 12;
const COURSE_S = 60; // the course vector shows where a track is in this many seconds
const ELLIPSE_K = Math.sqrt(5.991); // 95% of a 2-D Gaussian
const SILENT_MS = 5000; // no frame from the server for this long (it sends 4 a second): the page says stale
const IDENTITIES = ["hostile", "suspect", "unknown", "pending", "neutral", "assumed_friend", "friendly"];
const STATUSES = ["confirmed", "coasting", "tentative"];

const AFFILIATION = { unknown: "U", pending: "P", assumed_friend: "A", friendly: "F", neutral: "N", suspect: "S", hostile: "H" };
const DIMENSION = { air: "A", land: "G", surface: "S", subsurface: "U", space: "P", unknown: "Z" };
const FUNCTION = {
  "G:vehicle": "EV----", "G:person": "UCI---", "A:uav": "MFQ---", "A:aircraft": "MF----", "S:vessel": "C-----",
};

const map = L.map("map", { preferCanvas: true, worldCopyJump: true }).setView([54.3, 10.2], 9);
const canvas = L.canvas({ padding: 0.2 });
const layers = {
  base: L.layerGroup().addTo(map),
  context: L.layerGroup().addTo(map),
  ellipses: L.layerGroup().addTo(map),
  trails: L.layerGroup().addTo(map),
  symbols: L.layerGroup().addTo(map),
};
const tracks = new Map(); // id -> {data, marker, ellipse, trail, course, sidc, trailPoints}
const shown = { identity: new Set(IDENTITIES), status: new Set(["confirmed", "coasting"]) };
const frameTimes = []; // ms to apply each frame, for the bench
const svgCache = new Map();
let selected = null;
let lastFrameAt = 0;
let lastStatus = null;
let fitted = false;
window.rampart = { tracks, frameTimes, frames: 0, errors: [] };
window.addEventListener("error", (e) => window.rampart.errors.push(String(e.message)));

// --- the base layer: Natural Earth coastlines and borders, shipped with the page -----------------

fetch("countries-50m.json").then((r) => r.json()).then((world) => {
  const style = { renderer: canvas, interactive: false };
  L.geoJSON(feature(world, world.objects.land), { ...style, style: { color: "#7a7a6a", weight: 1, fillColor: "#efeadf", fillOpacity: 1 } }).addTo(layers.base);
  L.geoJSON(mesh(world, world.objects.countries, (a, b) => a !== b), { ...style, style: { color: "#999", weight: 0.7, dashArray: "3 3" } }).addTo(layers.base);
});
fetch("config.json").then((r) => r.json()).then((config) => {
  if (config.tiles) L.tileLayer(config.tiles, { maxZoom: 18 }).addTo(map).bringToBack();
});

// --- filters --------------------------------------------------------------------------------------

const filters = document.getElementById("filters");
for (const [kind, values] of [["identity", IDENTITIES], ["status", STATUSES]]) {
  for (const value of values) {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), { type: "checkbox", checked: shown[kind].has(value) });
    box.dataset.filter = `${kind}:${value}`;
    box.addEventListener("change", () => {
      box.checked ? shown[kind].add(value) : shown[kind].delete(value);
      for (const entry of tracks.values()) place(entry);
    });
    label.append(box, ` ${value.replace("_", " ")}`);
    filters.append(label);
  }
}

// --- tracks ---------------------------------------------------------------------------------------

function sidc(t) {
  const dim = DIMENSION[t.environment] ?? "Z";
  const status = t.status === "confirmed" ? "P" : "A"; // coasting and tentative: dashed frame
  return `S${AFFILIATION[t.identity] ?? "U"}${dim}${status}${FUNCTION[`${dim}:${t.class}`] ?? "------"}-----`;
}

function icon(code) {
  let cached = svgCache.get(code);
  if (!cached) {
    const symbol = new ms.Symbol(code, { size: 22 });
    const size = symbol.getSize();
    const anchor = symbol.getAnchor();
    cached = L.divIcon({
      html: symbol.asSVG(),
      className: "track-symbol",
      iconSize: [size.width, size.height],
      iconAnchor: [anchor.x, anchor.y],
    });
    svgCache.set(code, cached);
  }
  return cached;
}

function offset(lat, lon, east, north) {
  const dLat = north / 111320;
  const dLon = east / (111320 * Math.cos((lat * Math.PI) / 180));
  return [lat + dLat, lon + dLon];
}

function ellipse(t) {
  const [ee, en, nn] = t.cov;
  const mid = (ee + nn) / 2;
  const root = Math.sqrt(((ee - nn) / 2) ** 2 + en ** 2);
  const a = ELLIPSE_K * Math.sqrt(Math.max(mid + root, 0));
  const b = ELLIPSE_K * Math.sqrt(Math.max(mid - root, 0));
  const angle = 0.5 * Math.atan2(2 * en, ee - nn); // of the major axis, from east
  const points = [];
  for (let i = 0; i < 24; i++) {
    const u = (2 * Math.PI * i) / 24;
    const x = a * Math.cos(u);
    const y = b * Math.sin(u);
    points.push(offset(t.lat, t.lon, x * Math.cos(angle) - y * Math.sin(angle), x * Math.sin(angle) + y * Math.cos(angle)));
  }
  return points;
}

function visible(t) {
  return shown.identity.has(t.identity) && shown.status.has(t.status);
}

function place(entry) {
  const on = visible(entry.data);
  for (const [layer, group] of [[entry.marker, layers.symbols], [entry.ellipse, layers.ellipses], [entry.trail, layers.trails], [entry.course, layers.trails]]) {
    if (on && !group.hasLayer(layer)) group.addLayer(layer);
    if (!on && group.hasLayer(layer)) group.removeLayer(layer);
  }
  const element = entry.marker.getElement();
  if (element) {
    element.dataset.trackId = entry.data.id;
    element.dataset.status = entry.data.status;
    element.dataset.identity = entry.data.identity;
  }
}

function upsert(t) {
  const position = [t.lat, t.lon];
  const ahead = offset(t.lat, t.lon, t.vel[0] * COURSE_S, t.vel[1] * COURSE_S);
  const colour = { hostile: "#c00", suspect: "#c00", friendly: "#06c", assumed_friend: "#06c", neutral: "#080" }[t.identity] ?? "#a80";
  let entry = tracks.get(t.id);
  if (!entry) {
    entry = {
      marker: L.marker(position, { icon: icon(sidc(t)), title: t.id, riseOnHover: true }),
      ellipse: L.polygon(ellipse(t), { renderer: canvas, weight: 1, color: colour, fillOpacity: 0.08, interactive: false }),
      trail: L.polyline([position], { renderer: canvas, weight: 1.5, color: colour, opacity: 0.6, interactive: false }),
      course: L.polyline([position, ahead], { renderer: canvas, weight: 1.5, color: colour, interactive: false }),
      trailPoints: [position],
      sidc: sidc(t),
    };
    entry.marker.on("click", () => select(t.id));
    entry.marker.on("add", () => place(entry));
    tracks.set(t.id, entry);
  } else {
    entry.marker.setLatLng(position);
    const code = sidc(t);
    if (code !== entry.sidc) {
      entry.sidc = code;
      entry.marker.setIcon(icon(code));
    }
    entry.trailPoints.push(position);
    if (entry.trailPoints.length > TRAIL_POINTS) entry.trailPoints.shift();
    entry.ellipse.setLatLngs(ellipse(t));
    entry.trail.setLatLngs(entry.trailPoints);
    entry.course.setLatLngs([position, ahead]);
    if (entry.data.identity !== t.identity) for (const path of [entry.ellipse, entry.trail, entry.course]) path.setStyle({ color: colour });
  }
  entry.data = t;
  place(entry);
  if (selected === t.id) showDetails(t);
}

function remove(id) {
  const entry = tracks.get(id);
  if (!entry) return;
  for (const layer of [entry.marker, entry.ellipse, entry.trail, entry.course]) layer.remove();
  tracks.delete(id);
  if (selected === id) select(null);
}

// --- details --------------------------------------------------------------------------------------

function select(id) {
  selected = id;
  const entry = id && tracks.get(id);
  if (entry) showDetails(entry.data);
  else document.getElementById("details").innerHTML = '<p class="hint">Click a track for its details and sources.</p>';
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function showDetails(t) {
  const speed = Math.hypot(t.vel[0], t.vel[1]);
  const course = ((Math.atan2(t.vel[0], t.vel[1]) * 180) / Math.PI + 360) % 360;
  const rows = [
    ["track", t.id], ["status", t.status], ["identity", t.identity], ["environment", t.environment],
    ["class", t.class ? `${t.class} ${(100 * t.confidence).toFixed(0)}%` : "-"], ["CoT type", t.cot],
    ["position", `${t.lat.toFixed(5)}, ${t.lon.toFixed(5)}, ${t.hae.toFixed(0)} m`],
    ["speed", `${speed.toFixed(1)} m/s, course ${course.toFixed(0)}°`],
    ["σ east / north", `${Math.sqrt(t.cov[0]).toFixed(0)} m / ${Math.sqrt(t.cov[2]).toFixed(0)} m`],
    ["first seen", t.first_seen], ["updated", t.updated],
  ];
  if (t.platform) rows.push(["platform", t.platform]);
  const table = document.createElement("table");
  table.id = "track-details";
  for (const [key, value] of rows) {
    const tr = document.createElement("tr");
    tr.append(Object.assign(document.createElement("th"), { textContent: key }), cell(value));
    table.append(tr);
  }
  const sources = document.createElement("table");
  sources.id = "track-sources";
  sources.innerHTML = "<tr><th>source</th><th>kind</th><th>last</th></tr>";
  for (const s of t.sources) {
    const tr = document.createElement("tr");
    tr.append(cell(s.id), cell(s.kind), cell(s.last.slice(11, 19)));
    sources.append(tr);
  }
  const heading = Object.assign(document.createElement("h3"), { textContent: "contributing sources" });
  document.getElementById("details").replaceChildren(table, heading, sources);
}

// --- sensors, drones and video footprints ---------------------------------------------------------

let contextDrawn = "";

function drawContext(items) {
  const key = JSON.stringify(items);
  if (key === contextDrawn) return;
  contextDrawn = key;
  layers.context.clearLayers();
  for (const item of items) {
    if (item.footprint.length === 4) {
      L.polygon(item.footprint, { renderer: canvas, color: "#7b3fa0", weight: 1, dashArray: "4 3", fillOpacity: 0.05, interactive: false }).addTo(layers.context);
    }
    L.circleMarker([item.lat, item.lon], { renderer: canvas, radius: 4, color: item.kind === "video" ? "#7b3fa0" : "#444", weight: 2, fillOpacity: 0.6 })
      .bindTooltip(`${item.id} (${item.kind}, ${item.detections} detections)`)
      .addTo(layers.context);
  }
}

// --- the banner -----------------------------------------------------------------------------------

const banner = document.getElementById("banner");

function showBanner() {
  const silent = performance.now() - lastFrameAt > SILENT_MS;
  const s = lastStatus;
  let confirmed = 0;
  for (const entry of tracks.values()) confirmed += entry.data.status === "confirmed";
  const age = s && s.age_s !== null ? `picture age ${s.age_s.toFixed(1)} s` : "no picture yet";
  const reasons = silent ? ["map server unreachable"] : s ? s.reasons : ["connecting"];
  const stale = silent || !s || s.stale;
  banner.className = stale ? "stale" : "ok";
  document.body.classList.toggle("stale", stale); // a stale picture is drawn faded: not to be taken as live
  banner.dataset.stale = String(stale);
  banner.textContent = `${stale ? "STALE" : "LIVE"} · ${age} · link ${s && s.link && !silent ? "up" : "down"} · ${tracks.size} tracks (${confirmed} confirmed)${reasons.length ? ` · ${reasons.join(", ")}` : ""}`;
}
setInterval(showBanner, 250);

// --- the stream -----------------------------------------------------------------------------------

function apply(frame) {
  const started = performance.now();
  if (frame.full) {
    const keep = new Set(frame.tracks.map((t) => t.id));
    for (const id of [...tracks.keys()]) if (!keep.has(id)) remove(id);
  }
  for (const t of frame.tracks) upsert(t);
  for (const id of frame.dropped) remove(id);
  drawContext(frame.context);
  lastStatus = frame.status;
  lastFrameAt = performance.now();
  if (!fitted && tracks.size) {
    fitted = true;
    map.fitBounds(L.latLngBounds([...tracks.values()].map((e) => e.marker.getLatLng())).pad(0.3), { maxZoom: 12 });
  }
  frameTimes.push(lastFrameAt - started);
  if (frameTimes.length > 1000) frameTimes.shift();
  window.rampart.frames += 1;
  showBanner();
}

new EventSource("events").onmessage = (event) => apply(JSON.parse(event.data));
