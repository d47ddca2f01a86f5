// A site: its devices as an installer or duty officer sees them. Repeated parts of a device become a
// grid of cards (a charging box's ports: state, power, temperature, relay; a station's vehicles and
// extinguishers; a camera's channels); a cabinet's door and items are a checklist; the rest are values.
// A site with charging ports says how many are on and how many cut (a shed whose 30 ports the smoke
// interlock cut is not "normal" once its alarms are closed), and can restore them all after a
// confirmation. A port card follows a command's result at once, before the gateway's next reading.
import { get, post, upload } from "./api.js";
import { planView } from "./plan.js";
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

  let plans = [];
  let shownPlan = 0;
  let editing = false;
  let planWrap = null;
  async function load() {
    [last, plans] = await Promise.all([get(`/api/sites/${encodeURIComponent(id)}`),
      get(`/api/sites/${encodeURIComponent(id)}/plans`)]);
    draw();
  }

  // The site's floor plans, every device on them coloured by its state; an admin uploads and places.
  function plansSection(s) {
    const admin = can("plan.edit");
    if (!plans.length && !admin) return null;
    const alarmed = new Set(s.alarms.filter((a) => a.condition === "active").map((a) => a.device));
    const states = Object.fromEntries(s.device_list.map((d) => [d.id, alarmed.has(d.id) ? "alarm"
      : d.online === false ? "offline" : d.online === null ? "unknown" : "ok"]));
    const plan = plans[Math.min(shownPlan, plans.length - 1)];
    planWrap = plan ? planView({ plan, devices: s.device_list, states, editable: admin && editing,
      onSaved: () => load().catch(() => {}) }) : null;
    const file = h("input", { type: "file", id: "plan-file", accept: "image/png,image/svg+xml", "aria-label": t("plan.file") });
    const name = h("input", { id: "plan-name", placeholder: t("plan.name"), "aria-label": t("plan.name") });
    const said = h("span.error-box", { role: "alert", id: "plan-error" });
    return h("section.panel", { id: "site-plans", style: "margin:10px 0" }, h("h2", {}, t("plan.title")),
      plans.length > 1 ? h("div.actions", {}, plans.map((p, i) => h(i === shownPlan ? "button.primary" : "button",
        { onclick: () => { shownPlan = i; draw(); } }, p.name))) : null,
      planWrap || h("p.muted", {}, t("plan.none")),
      admin ? h("div.actions", {},
        plan ? h("button", { id: "plan-edit", onclick: () => { editing = !editing; draw(); } }, editing ? t("plan.done") : t("plan.edit")) : null,
        h("form.filters", { id: "plan-upload", onsubmit: async (e) => {
          e.preventDefault();
          if (!file.files[0]) return;
          try {
            await upload(`/api/sites/${encodeURIComponent(s.id)}/plans?name=${encodeURIComponent(name.value || file.files[0].name)}`, file.files[0]);
            shownPlan = plans.length;
            editing = true;
            await load();
          } catch (err) { replace(said, err.message); }
        } }, file, name, h("button", { type: "submit", id: "plan-upload-submit" }, t("plan.upload"))), said) : null);
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
      plansSection(s),
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
  const busy = () => main.querySelector("[data-confirm], button[data-command]:disabled, #restore-all-confirm, [data-busy]")
    || (editing && planWrap?.unsaved());
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
