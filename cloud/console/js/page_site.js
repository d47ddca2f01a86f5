// A site: its devices as an installer or duty officer sees them. Repeated parts of a device become a
// grid of cards (a charging box's ports: state, power, temperature, relay; a station's vehicles and
// extinguishers; a camera's channels); a cabinet's door and items are a checklist; the rest are values.
import { get } from "./api.js";
import { alarmTitle, badge, clock, h, replace, throttle, value, onlineBadge } from "./dom.js";
import { t } from "./i18n.js";
import { relayControl } from "./commands.js";

const PART = /^([a-z_]+?)(\d+)\.(.+)$/;
// What a card shows first for the parts people look at most; other parts show every field.
const SHOWN = { port: ["state", "power", "temperature", "current", "relay"],
  vehicle: ["soc", "charging", "on_charger", "parked", "charger_fault"] };

export function render({ params, main, can }) {
  const [id] = params;
  async function load() {
    const s = await get(`/api/sites/${encodeURIComponent(id)}`);
    replace(main,
      h("h1", {}, s.name, " ", badge(s.status)),
      h("dl.facts", {},
        fact(t("col.street"), s.street), fact(t("col.kind"), t(`kind.${s.kind}`, {}, s.kind)),
        fact(t("col.gateway"), `${s.gateway} · ${s.gateway_online ? t("health.online") : t("flag.offline")}`),
        fact(t("col.last_seen"), clock(s.last_seen)), fact(t("col.readiness"), s.readiness ?? "–"),
        s.readiness_detail?.missing?.length ? fact(t("ready.missing"), s.readiness_detail.missing.join(", ")) : null),
      s.alarms.length ? [h("h2", {}, t("site.alarms")), h("ul", { id: "site-alarms" }, s.alarms.map((a) => h("li", {}, badge(a.class), " ",
        h("a", { href: `#/duty/${a.id}` }, alarmTitle(a)), ` · ${a.device} · ${t(`handling.${a.handling}`)}`)))] : null,
      s.device_list.map((d) => device(s, d, can("command.send"))));
  }
  // Not while someone is confirming a command or waiting for its answer: that would wipe it.
  const busy = () => main.querySelector("[data-confirm], button[data-command]:disabled");
  const reload = throttle(function again() { if (busy()) setTimeout(again, 2000); else load().catch(() => {}); }, 3000);
  return { load, onAlarm: reload, onHealth: reload };
}

function device(site, d, mayCommand) {
  const parts = {}, items = [], plain = [];
  for (const [key, v] of Object.entries(d.values)) {
    if (key.startsWith("_")) continue;
    const m = PART.exec(key);
    if (m) ((parts[m[1]] ||= {})[m[2]] ||= {})[m[3]] = v;
    else if (key.endsWith("_present") || key === "door_open") items.push([key, v]);
    else plain.push([key, v]);
  }
  const control = (point, on) => (mayCommand && site.gateway_online
    ? relayControl({ site: site.id, gateway: site.gateway, device: d.id, point, on }) : null);
  return h("section.panel", { "data-device": d.id, style: "margin:10px 0" },
    h("h2", {}, h("a", { href: `#/device/${encodeURIComponent(site.id)}/${encodeURIComponent(d.id)}` }, d.name || d.id),
      " ", h("span.muted", {}, `${d.id} · ${t(`kind.${d.kind}`, {}, d.kind || d.profile)}${d.location ? ` · ${d.location}` : ""}`),
      " ", onlineBadge(d.online)),
    Object.entries(parts).map(([part, members]) => h("div", {}, h("h3.muted", {}, t(`part.${part}`, {}, part)),
      h("div.cards", { "data-part": part }, Object.keys(members).sort((a, b) => a - b).map((n) => card(part, n, members[n],
        members[n].relay !== undefined ? control(`${part}${n}.relay`, members[n].relay === true) : null))))),
    items.length ? h("ul.cards", { "data-items": d.id, style: "list-style:none;padding:0" }, items.sort().map(([key, v]) => {
      const good = key === "door_open" ? v === false : v === true;
      return h(`li.card${good ? "" : ".bad"}`, {}, `${good ? "✓" : "✗"} ${t(`item.${key}`, {}, key)}`);
    })) : null,
    plain.length ? h("dl.facts", {}, plain.sort().map(([k, v]) => fact(t(`point.${k}`, {}, k), value(v)))) : null);
}

function card(part, n, fields, control) {
  const temp = fields.temperature;
  const bad = fields.state === "fault" || fields.charger_fault === true || fields.video_loss === true
    || (typeof temp === "number" && temp >= 60) || fields.flame === true;
  const warn = typeof temp === "number" && temp >= 45;
  const idle = fields.state === "idle" || fields.relay === false || fields.parked === false;
  return h(`div.card${bad ? ".bad" : warn ? ".warn" : idle ? ".idle" : ""}`, { "data-card": `${part}${n}` },
    h("h3", {}, `${t(`part.${part}`, {}, part)} ${n}`),
    Object.entries(fields).filter(([k]) => !SHOWN[part] || SHOWN[part].includes(k))
      .sort(([a], [b]) => (SHOWN[part] ? SHOWN[part].indexOf(a) - SHOWN[part].indexOf(b) : a.localeCompare(b))).map(([k, v]) => h("div.kv", {}, h("span.muted", {}, t(`point.${k}`, {}, k)),
      h("span", {}, k === "state" ? t(`state.${v}`, {}, String(v)) : k === "relay" ? (v ? t("relay.on") : t("relay.off")) : value(v)))),
    control);
}

const fact = (label, content) => [h("dt", {}, label), h("dd", {}, content)];
