// Bundles the map page into ../nodes/map_static (package data of `rampart map`): the page, its
// script with Leaflet, milsymbol and topojson-client, Leaflet's stylesheet and images, and Natural
// Earth's coastlines and borders (world-atlas, 1:50m) so that the page needs no network at all.
import { build } from "esbuild";
import { copyFileSync, cpSync, mkdirSync, rmSync } from "node:fs";

const out = new URL("../nodes/map_static/", import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/main.js"],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  outfile: `${out}main.js`,
  legalComments: "linked",
});
copyFileSync("src/index.html", `${out}index.html`);
copyFileSync("src/map.css", `${out}map.css`);
copyFileSync("node_modules/leaflet/dist/leaflet.css", `${out}leaflet.css`);
cpSync("node_modules/leaflet/dist/images", `${out}images`, { recursive: true });
copyFileSync("node_modules/world-atlas/countries-50m.json", `${out}countries-50m.json`);
