// A site: its devices as an installer or duty officer sees them. Repeated parts of a device become a
// grid of cards (a charging box's ports: state, power, temperature, relay; a station's vehicles and
// extinguishers; a camera's channels); a cabinet's door and items are a checklist; the rest are values.
// A site with charging ports says how many are on and how many cut (a shed whose 30 ports the smoke
// interlock cut is not "normal" once its alarms are closed), and can restore them all after a
// confirmation. A port card follows a command's result at once, before the gateway's next reading.
import { get, post } from "./api.js";
import { alarmTitle, badge, clock, h, replace, throttle, value, onlineBadge, withUnit } from "./dom.js";
import { itemLabel, pointLabel, t } from "./i18n.js";
import { relayControl, waitFor } from "./commands.js";
import { dossier } from "./dossier.js";

const PART = /^([a-z_]+?)(\d+)\.(.+)$/;
// What a card shows first for the parts people look at most; other parts show every field.
const SHOWN = { port: ["state", "power", "temperature", "current", "relay"],
  vehicle: ["soc", "charging", "on_charger", "parked", "charger_fault"] };

const PENDING_MS = 30_000;  // a command's result shown over older readings this long at most

export function render({ params, main, can }) {
  const [id] = params;
  const pending = new Map();  // "device/point" -> {value, until}: done by a command, not yet read back
  const outcomes = new Map();  // "device/point" -> what its last command came to, kept across redraws
  let last = null;
  let restored = "";  // what "restore all" came to

  function relayOf(d, point) {
    const tag = `${d.id}/${point}`;
    const done = pending.get(tag);
    if (done && (done.until < Date.now() || d.values[point] === done.value)) pending.delete(tag);
    return pending.has(tag) ? pending.get(tag).value : d.values[point];
  }
  const saidOf = (tag) => outcomes.get(tag) || "";

  const mayCommand = (s) => can("command.send") && s.gateway_online;
  const onDone = (device, point, value, said = "") => {
    pending.set(`${device}/${point}`, { value, until: Date.now() + PENDING_MS });
    outcomes.set(`${device}/${point}`, said);
    draw();
  };

  async function load() {
    last = await get(`/api/sites/${encodeURIComponent(id)}`);
    draw();
  }

  function draw() {
    const s = last;
    const ports = s.device_list.flatMap((d) => Object.keys(d.values).filter((k) => /^port\d+\.relay$/.test(k))
      .map((point) => ({ device: d.id, point, on: relayOf(d, point) === true })));
    const cut = ports.filter((p) => !p.on);
    replace(main,
      h("h1", {}, s.name, " ", badge(s.status)),
      ports.length ? h("p", { class: cut.length ? "warn-text" : null },
        h("span", { id: "port-summary" }, t("site.ports", { on: ports.length - cut.length, off: cut.length })), " ",
        cut.length && mayCommand(s) ? restoreAll(s, cut) : null,
        restored ? h("span.muted", { id: "restore-all-said", role: "status" }, restored) : null) : null,
      h("dl.facts", {},
        fact(t("col.street"), s.street), fact(t("col.kind"), t(`kind.${s.kind}`, {}, s.kind)),
        fact(t("col.gateway"), `${s.gateway} · ${s.gateway_online ? t("health.online") : t("flag.offline")}`),
        fact(t("col.last_seen"), clock(s.last_seen)), fact(t("col.readiness"), s.readiness ?? "–"),
        s.readiness_detail?.missing?.length ? fact(t("ready.missing"), s.readiness_detail.missing.map(itemLabel).join("、")) : null),
      dossier(s.dossier),
      s.alarms.length ? [h("h2", {}, t("site.alarms")), h("ul", { id: "site-alarms" }, s.alarms.map((a) => h("li", {}, badge(a.class), " ",
        h("a", { href: `#/duty/${a.id}` }, alarmTitle(a)), ` · ${a.device} · ${t(`handling.${a.handling}`)}`)))] : null,
      s.device_list.map((d) => device(s, d, mayCommand(s), { relayOf, onDone, saidOf })));
  }

  function restoreAll(s, cut) {
    const box = h("span", { id: "restore-all-box" });
    const button = h("button", { id: "restore-all", onclick: ask }, t("command.restore_all"));
    function ask() {
      replace(box, t("command.restore_all_confirm", { n: cut.length }), " ",
        h("button.danger", { id: "restore-all-confirm", onclick: send }, `${t("yes")}, ${t("command.restore_all")}`), " ",
        h("button", { onclick: () => replace(box, button) }, t("no")));
    }
    async function send() {
      replace(box, h("span.muted", { role: "status", "data-busy": "1" }, t("command.sent")));
      // one command per port, each checked and audited on its own; the page is redrawn once, when all are done
      const results = await Promise.allSettled(cut.map((port) => post("/api/commands", { site: s.id,
        gateway: s.gateway, action: "write", device: port.device, point: port.point, value: true })
        .then((cmd) => waitFor(cmd.id))));
      const failed = results.filter((r) => r.status === "rejected" || r.value?.state !== "successful");
      cut.forEach((port, i) => {
        if (!failed.includes(results[i])) pending.set(`${port.device}/${port.point}`, { value: true, until: Date.now() + PENDING_MS });
      });
      const why = failed.map((r) => (r.status === "rejected" ? r.reason?.message : r.value?.reason)).find(Boolean);
      restored = failed.length ? `${t("command.failed")}: ${failed.length} / ${cut.length}${why ? ` (${why})` : ""}`
        : t("command.successful");
      draw();
    }
    return replace(box, button);
  }
  // Not while someone is confirming a command or waiting for its answer: that would wipe it.
  const busy = () => main.querySelector("[data-confirm], button[data-command]:disabled, #restore-all-confirm, [data-busy]");
  const reload = throttle(function again() { if (busy()) setTimeout(again, 2000); else load().catch(() => {}); }, 3000);
  return { load, onAlarm: reload, onHealth: reload };
}

function device(site, d, mayCommand, { relayOf, onDone, saidOf }) {
  const parts = {}, items = [], plain = [];
  for (const [key, v] of Object.entries(d.values)) {
    if (key.startsWith("_")) continue;
    const m = PART.exec(key);
    if (m) ((parts[m[1]] ||= {})[m[2]] ||= {})[m[3]] = v;
    else if (key.endsWith("_present") || key === "door_open") items.push([key, v]);
    else plain.push([key, v]);
  }
  const control = (point, on) => (mayCommand
    ? relayControl({ site: site.id, gateway: site.gateway, device: d.id, point, on, said: saidOf(`${d.id}/${point}`),
      onDone: (value, said) => onDone(d.id, point, value, said) }) : null);
  return h("section.panel", { "data-device": d.id, style: "margin:10px 0" },
    h("h2", {}, h("a", { href: `#/device/${encodeURIComponent(site.id)}/${encodeURIComponent(d.id)}` }, d.name || d.id),
      " ", h("span.muted", {}, `${d.id} · ${t(`kind.${d.kind}`, {}, d.kind || d.profile)}${d.location ? ` · ${d.location}` : ""}`),
      " ", onlineBadge(d.online)),
    Object.entries(parts).map(([part, members]) => h("div", {}, h("h3.muted", {}, t(`part.${part}`, {}, part)),
      h("div.cards", { "data-part": part }, Object.keys(members).sort((a, b) => a - b).map((n) => {
        const relay = members[n].relay === undefined ? undefined : relayOf(d, `${part}${n}.relay`);
        const fields = relay === undefined ? members[n] : { ...members[n], relay };
        return card(part, n, fields, relay !== undefined ? control(`${part}${n}.relay`, relay === true) : null);
      })))),
    items.length ? h("ul.cards", { "data-items": d.id, style: "list-style:none;padding:0" }, items.sort().map(([key, v]) => {
      if (key === "door_open") {  // a state, said as one: 柜门：开启
        return h(`li.card${v === false ? "" : ".bad"}`, { "data-item": key },
          t("door.state", { state: t(v === false ? "door.closed" : "door.open") }));
      }
      return h(`li.card${v === true ? "" : ".bad"}`, { "data-item": key }, `${v === true ? "✓" : "✗"} ${t(`item.${key}`, {}, pointLabel(key))}`);
    })) : null,
    plain.length ? h("dl.facts", {}, plain.sort().map(([k, v]) => fact(pointLabel(k), withUnit(k, v)))) : null);
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
      .sort(([a], [b]) => (SHOWN[part] ? SHOWN[part].indexOf(a) - SHOWN[part].indexOf(b) : a.localeCompare(b))).map(([k, v]) => h("div.kv", {}, h("span.muted", {}, pointLabel(k)),
      h("span", {}, k === "relay" ? (v ? t("relay.on") : t("relay.off")) : withUnit(`${part}${n}.${k}`, v)))),
    control);
}

const fact = (label, content) => [h("dt", {}, label), h("dd", {}, content)];
