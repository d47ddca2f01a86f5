// The district map: a schematic drawn from the sites' own coordinates (no map tiles: the duty network
// is closed), each site coloured by its worst active alarm, else by its health. Streets are labelled
// where their sites are. Below it, the same sites as a list, worst first.
import { get } from "./api.js";
import { badge, compare, h, replace, throttle } from "./dom.js";
import { t } from "./i18n.js";

const COLOURS = { fire: "#c62828", supervisory: "#d9731a", fault: "#b59500", prewarning: "#7b3fb8", status: "#607080",
  offline: "#6b7280", unknown: "#b0b6c2", ok: "#2e7d32" };
const ORDER = ["fire", "supervisory", "fault", "prewarning", "offline", "status", "unknown", "ok"];
const W = 1000, H = 560, PAD = 50;

export function render({ main, navigate }) {
  let sites = [];
  async function load() {
    sites = await get("/api/sites");
    draw();
  }
  function draw() {
    const placed = sites.filter((s) => typeof s.lat === "number" && typeof s.lon === "number");
    const counts = Object.fromEntries(ORDER.map((k) => [k, sites.filter((s) => s.status === k).length]));
    replace(main,
      h("h1", {}, t("map.title")),
      h("div.legend", { id: "map-legend" }, ORDER.filter((k) => counts[k]).map((k) => h("span", {}, badge(k), ` ${counts[k]}`))),
      h("div.map", {}, svg(placed, navigate)),
      placed.length < sites.length ? h("p.muted", {}, t("map.unplaced", { n: sites.length - placed.length })) : null,
      h("h2", {}, t("map.list")), sites.length > 300 ? h("p.muted", {}, t("map.only_attention")) : null,
      h("table", { id: "site-list" }, h("thead", {}, h("tr", {}, h("th", {}, t("col.status")), h("th", {}, t("col.site")),
        h("th", {}, t("col.street")), h("th.optional", {}, t("col.kind")), h("th", {}, t("col.alarms")),
        h("th.optional", {}, t("col.offline")), h("th.optional", {}, t("col.readiness")))),
      h("tbody", {}, listed(sites).map((s) => h("tr", {}, h("td", {}, badge(s.status)),
          h("td", {}, h("a", { href: `#/site/${encodeURIComponent(s.id)}` }, s.name)),
          h("td", {}, s.street), h("td.optional", {}, t(`kind.${s.kind}`, {}, s.kind)),
          h("td", {}, s.open_alarms), h("td.optional", {}, `${s.devices_offline}/${s.devices}`),
          h("td.optional", {}, s.readiness ?? "–"))))));
  }
  const reload = throttle(() => load().catch(() => {}), 5000);
  return { load, onAlarm: reload, onHealth: reload };
}

// Worst first; in a district of thousands, only the sites that need a look (and at most 300 of them).
function listed(sites) {
  const sorted = [...sites].sort((a, b) => ORDER.indexOf(a.status) - ORDER.indexOf(b.status) || compare(a.name, b.name));
  return sites.length > 300 ? sorted.filter((s) => s.status !== "ok").slice(0, 300) : sorted;
}

function svg(placed, navigate) {
  const root = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("map.title"), id: "district-map" });
  if (!placed.length) return root;
  const lats = placed.map((s) => s.lat), lons = placed.map((s) => s.lon);
  const mid = (Math.min(...lats) + Math.max(...lats)) / 2;
  const kx = Math.cos((mid * Math.PI) / 180);
  const spanX = Math.max((Math.max(...lons) - Math.min(...lons)) * kx, 0.002);
  const spanY = Math.max(Math.max(...lats) - Math.min(...lats), 0.002);
  const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
  const ox = (W - spanX * scale) / 2, oy = (H - spanY * scale) / 2;
  const x = (lon) => ox + (lon - Math.min(...lons)) * kx * scale;
  const y = (lat) => H - oy - (lat - Math.min(...lats)) * scale;
  for (let i = 1; i < 10; i += 1) {
    root.append(h("svg:line", { x1: (W * i) / 10, x2: (W * i) / 10, y1: 0, y2: H, stroke: "#dde3ec" }));
    root.append(h("svg:line", { y1: (H * i) / 10, y2: (H * i) / 10, x1: 0, x2: W, stroke: "#dde3ec" }));
  }
  const many = placed.length > 200;
  const labels = streetLabels(placed, x, y);
  for (const s of [...placed].sort((a, b) => ORDER.indexOf(b.status) - ORDER.indexOf(a.status))) {
    const r = many ? (s.status === "ok" ? 3 : 7) : s.kind === "micro_station" ? 13 : 10;
    const dot = h("svg:circle", { cx: x(s.lon), cy: y(s.lat), r, fill: COLOURS[s.status] || COLOURS.unknown,
      class: "site-dot", tabindex: many && s.status === "ok" ? null : 0, "stroke-width": many ? 0.6 : 2,
      "data-site": s.id, "data-status": s.status,
      onclick: () => navigate(`site/${s.id}`),
      onkeydown: (e) => { if (e.key === "Enter") navigate(`site/${s.id}`); } },
    h("svg:title", {}, `${s.name} · ${t(`class.${s.status}`)} · ${t("col.alarms")} ${s.open_alarms}`));
    root.append(dot);
    if (!many) root.append(h("svg:text", { x: x(s.lon) + r + 4, y: y(s.lat) + 4, "font-size": 12, fill: "#1d2330" }, s.name));
  }
  root.append(...labels);  // above each street's sites, so no site's colour is hidden under a name
  return root;
}

function streetLabels(placed, x, y) {
  const out = [];
  const streets = {};
  for (const s of placed) (streets[s.street] ||= []).push(s);
  for (const [street, members] of Object.entries(streets)) {
    const cx = members.reduce((sum, s) => sum + x(s.lon), 0) / members.length;
    const top = Math.min(...members.map((s) => y(s.lat)));
    out.push(h("svg:text", { x: cx, y: Math.max(16, top - 14), "text-anchor": "middle", fill: "#3d4657",
      "font-size": 14, stroke: "#eef2f7", "stroke-width": 4, "paint-order": "stroke" }, street));
  }
  return out;
}
