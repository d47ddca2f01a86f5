// The duty console: the live alarm queue (fire first, then by time), time since raised and the
// countdown to escalation, and the selected alarm's detail with its life-cycle actions, disposition
// form, silence/shelve, commands such as cutting a port, and its timeline. Keys: arrows move through
// the queue, Enter opens, and in the detail a/v/c/f/d/x act (acknowledge, verify, confirm, false alarm,
// dispose, close). A verdict (真实火警 or 误报) is asked again before it is sent: the two keys are neighbours.
// A fire nobody has acknowledged stays marked in the queue; the fires of one site can be acknowledged
// together (a detector's and the shed interlock's are one incident). A closed alarm shows how it was closed.
import { get, post, refusalText } from "./api.js";
import { alarmTitle, badge, clock, duration, h, now, replace, value, withUnit } from "./dom.js";
import { eventLabel, pointLabel, t } from "./i18n.js";
import { relayControl, resetOnSite } from "./commands.js";
import { dossier } from "./dossier.js";
import { planView } from "./plan.js";
import { dispatchAction, dispatchBox, dispatchable, notifications } from "./response.js";
import { freshPicture, pictures } from "./snapshot.js";

const KEYS = { a: "acknowledge", v: "verify", c: "confirm", f: "false_alarm", d: "dispose", x: "close" };
const RESULTS = ["extinguished", "cause_removed", "false_alarm", "device_fault", "drill", "other"];
const VERDICTS = new Set(["confirm", "false_alarm"]);  // asked again before they are sent
const narrow = () => matchMedia("(max-width: 900px)").matches;
let scrollToDetail = false;  // set by a tap on a row: the page is drawn afresh for the new address

export function render({ state, params, navigate, can, main, flashAt }) {
  let selected = params[0] ? Number(params[0]) : null;
  let detail = null;
  let closing = false;
  let asking = null;  // the verdict waiting for its confirmation
  let muteOpen = false;
  const queue = h("div.panel", { id: "alarm-queue" });
  const side = h("div.panel", { id: "alarm-detail" });
  const message = h("p.error-box", { role: "alert", id: "action-error" });
  replace(main, h("h1", {}, t("duty.title")), h("div.grid2", {}, queue, side));

  function select(id) {
    scrollToDetail = narrow();
    navigate(`duty/${id}`);
  }

  function drawQueue() {
    const focused = queue.contains(document.activeElement) ? document.activeElement.dataset.alarm : null;
    const shelvedNow = (a) => (a.shelved_until || 0) * 1000 > Date.now();
    const active = state.alarms.filter((a) => !shelvedNow(a));
    const shelved = state.alarms.filter(shelvedNow);
    const toRow = (a) => {
      const flash = flashAt(a.id);
      const marks = [a.id === selected ? "selected" : "", flash !== null ? "new" : "",
        a.class === "fire" && a.handling === "raised" ? "unanswered" : ""];
      const row = h("tr.selectable", {
        tabindex: 0, "data-alarm": a.id, "data-key": a.key, "data-class": a.class, "data-condition": a.condition,
        "data-site": a.site, class: marks.join(" ").trim() || null,
        style: flash !== null ? `animation-delay: -${Math.round(flash)}ms` : null,  // continued, not restarted
        onclick: () => select(a.id),
        onkeydown: (e) => {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(a.id); }
          if (e.key === "ArrowDown") row.nextElementSibling?.focus();
          if (e.key === "ArrowUp") row.previousElementSibling?.focus();
        },
      },
      h("td", {}, badge(a.class)),
      h("td", {}, h("strong", {}, alarmTitle(a)), h("div.muted", {}, `${state.sites[a.site]?.name || a.site} · ${a.device || "–"}`)),
      h("td.optional", {}, a.street || "–"),
      h("td", { "data-since": a.raised_at }, duration(now() - a.raised_at)),
      h("td", {}, a.escalated ? h("span.muted", {}, `${t("duty.level", { level: a.escalated })} `) : null,
        h("span", { "data-escalate": a.escalate_at ?? "" }, countdown(a.escalate_at))),
      h("td", {}, t(`handling.${a.handling}`), a.condition === "cleared" ? h("div.muted", {}, t("condition.cleared")) : null),
      h("td.optional", {}, a.count > 1 ? `×${a.count}` : ""));
      return row;
    };
    const rows = active.map(toRow);
    const table = (body) => h("table", {}, h("thead", {}, h("tr", {},
      h("th", {}, t("col.class")), h("th", {}, t("col.alarm")), h("th.optional", {}, t("col.street")),
      h("th", {}, t("col.since")), h("th", {}, t("col.escalation")), h("th", {}, t("col.handling")),
      h("th.optional", {}, t("col.count")))), h("tbody", {}, body));
    replace(queue,
      h("p.muted", { id: "queue-summary" }, t("duty.summary", { open: state.alarms.length,
        fire: state.alarms.filter((a) => a.class === "fire").length }),
        shelved.length ? ` · ${t("duty.shelved_count", { shelved: shelved.length })}` : ""),
      rows.length ? table(rows) : h("p", { id: "queue-empty" }, t("duty.empty")),
      shelved.length ? h("section", { id: "shelved-queue" }, h("h2", {}, t("duty.shelved")),
        table(shelved.map(toRow))) : null);
    if (focused) queue.querySelector(`tr[data-alarm="${focused}"]`)?.focus();
  }

  function countdown(at) {
    if (!at) return "–";
    const left = at - now();
    return h(`span.countdown${left < 30 ? ".soon" : ""}`, {}, left > 0 ? duration(left) : t("duty.escalated"));
  }

  async function loadDetail() {
    if (!selected) {
      replace(side, h("p.muted", {}, t("duty.pick")));
      return;
    }
    detail = await get(`/api/alarms/${selected}`);
    if (detail.device) {  // where the device is: the first plan of its site that has it
      try {
        const plans = await get(`/api/sites/${encodeURIComponent(detail.site)}/plans`);
        detail.plan = plans.find((p) => p.positions[detail.device]) || null;
      } catch { detail.plan = null; }
    }
    drawDetail();
    if (scrollToDetail) {
      scrollToDetail = false;
      side.scrollIntoView({ block: "start" });
    }
  }

  async function act(action, extra = {}) {
    replace(message);
    try {
      await post(`/api/alarms/${detail.id}/actions`, { action, notes: notes.value, ...extra });
      notes.value = "";  // said once: the next action starts with an empty note
      closing = false;
      asking = null;
      await loadDetail();
    } catch (e) {
      replace(message, e.message);
    }
  }

  function press(action) {
    if (action === "close") openClose();
    else if (VERDICTS.has(action)) { asking = action; drawDetail(); document.getElementById("confirm-yes")?.focus(); }
    else act(action);
  }

  // The other fires of this alarm's site that nobody has acknowledged: one incident, one acknowledgement.
  const incident = (a) => (a.class === "fire" && a.handling === "raised"
    ? state.alarms.filter((o) => o.site === a.site && o.class === "fire" && o.handling === "raised") : []);

  async function acknowledgeTogether(fires) {
    replace(message);
    try {
      const answer = await post("/api/alarms/actions", { ids: fires.map((f) => f.id), action: "acknowledge", notes: notes.value });
      notes.value = "";
      if (answer.refused.length) replace(message, answer.refused.map(refusalText).join("; "));
      await loadDetail();
    } catch (e) {
      replace(message, e.message);
    }
  }

  const notes = h("input", { id: "action-notes", placeholder: t("duty.notes"), "aria-label": t("duty.notes") });

  function drawDetail() {
    const a = detail;
    const site = a.site_info || {};
    const dev = a.device_info || {};
    // the handling state machine is the collector's (/api/me policy), not a copy here
    const allowed = can("alarm.handle") ? state.me?.policy?.next_actions?.[a.handling] || [] : [];
    const together = can("alarm.handle") ? incident(a) : [];
    replace(side,
      h("h2", {}, badge(a.class), " ", alarmTitle(a)),
      h("dl.facts", {},
        fact(t("col.site"), h("a", { href: `#/site/${encodeURIComponent(a.site)}` }, site.name || a.site)),
        fact(t("col.street"), a.street || site.street || "–"),
        fact(t("col.device"), a.device ? h("a", { href: `#/device/${encodeURIComponent(a.site)}/${encodeURIComponent(a.device)}` },
          `${dev.name || a.device} (${a.device})`) : "–"),
        fact(t("col.location"), dev.location || "–"),
        fact(t("col.condition"), h("span", { id: "detail-condition" }, t(`condition.${a.condition}`))),
        fact(t("col.handling"), h("span", { id: "detail-handling" }, t(`handling.${a.handling}`))),
        fact(t("col.raised"), clock(a.raised_at)),
        a.received_at && a.received_at - a.raised_at > 5 ? fact(t("col.received"), clock(a.received_at)) : null,
        fact(t("col.escalation"), a.escalated ? [t("duty.escalated_level", { level: a.escalated }), " · ", countdown(a.escalate_at)]
          : countdown(a.escalate_at)),
        fact(t("col.value"), withUnit("", a.value))),
      a.handling === "closed" ? disposition(a) : null,
      allowed.length ? h("div.actions", {}, notes, allowed.map((action) => {
        const key = Object.keys(KEYS).find((k) => KEYS[k] === action);
        return h(action === "close" ? "button" : "button.primary", {
          "data-action": action, "aria-keyshortcuts": key, onclick: () => press(action),
        }, t(`action.${action}`), key ? h("span.key-hint", {}, ` (${key.toUpperCase()})`) : null);
      }), together.length > 1 ? h("button.primary", { id: "ack-incident", onclick: () => acknowledgeTogether(together) },
        t("duty.ack_incident", { n: together.length })) : null) : null,
      asking ? h("div.confirm", { id: "confirm-action", role: "alertdialog" },
        h("strong", {}, t(`confirm.${asking}`)), " ",
        h("button.danger", { id: "confirm-yes", onclick: () => act(asking) }, t("yes")), " ",
        h("button", { id: "confirm-no", onclick: () => { asking = null; drawDetail(); } }, t("no"))) : null,
      closing ? closeForm() : null,
      message,
      // an unanswered fire can be neither silenced nor shelved: the form appears once it is acknowledged
      can("alarm.silence") && a.handling !== "closed" && !(a.class === "fire" && a.handling === "raised")
        ? muteForm(a) : null,
      can("command.send") ? commands(a, site, dev) : null,
      a.plan ? h("section", { id: "detail-plan" }, h("h2", {}, `${t("plan.title")} · ${a.plan.name}`),
        planView({ plan: a.plan, highlight: a.device, states: { [a.device]: a.condition === "active" ? "alarm" : "ok" } })) : null,
      pictures(a, can("alarm.handle") && a.handling !== "closed" && ["fire", "supervisory"].includes(a.class)
        ? kept(`snapshot/${a.id}`, () => freshPicture(a.id)) : null),
      dispatchBox(a, dispatchable(a, can("alarm.handle")) && (!a.dispatches?.length || controls.has(`dispatch/${a.id}`))
        ? kept(`dispatch/${a.id}`, () => dispatchAction(a)) : null),
      notifications(a),
      dossier(a.dossier),
      h("h2", {}, t("duty.readings")), readings(dev.values || {}),
      h("h2", {}, t("duty.timeline")), timeline(a.log || [], dev.events || []));
  }

  function openClose() {
    closing = true;
    result.value = detail.handling === "false_alarm" ? "false_alarm" : "extinguished";  // what the verdict was
    drawDetail();
    document.getElementById("close-result")?.focus();
  }

  function disposition(a) {
    const d = a.disposition || {};
    const closed = [...(a.log || [])].reverse().find((e) => e.action === "close");
    return h("section.disposition", { id: "detail-disposition" }, h("h2", {}, t("close.done")),
      h("dl.facts", {},
        fact(t("close.result"), t(`result.${d.result}`, {}, d.result || "–")),
        fact(t("close.notes"), d.notes || "–"),
        fact(t("close.who"), d.who || closed?.who || "–"),
        fact(t("close.when"), closed ? clock(closed.at) : "–")));
  }

  // Made once: an update of the alarm redraws the detail but keeps what the officer is typing.
  const result = h("select", { id: "close-result", "aria-label": t("close.result") },
    RESULTS.map((r) => h("option", { value: r }, t(`result.${r}`))));
  const text = h("textarea", { id: "close-notes", rows: 2, placeholder: t("close.notes"), "aria-label": t("close.notes") });
  const how = h("select", { id: "mute-how", "aria-label": t("mute.how") }, ["silence", "shelve"].map((m) => h("option", { value: m }, t(`mute.${m}`))));
  const minutes = h("input", { type: "number", min: 1, max: 1440, value: 30, "aria-label": t("mute.minutes"), style: "width:6em" });
  const reason = h("input", { id: "mute-reason", placeholder: t("mute.reason"), "aria-label": t("mute.reason") });

  function closeForm() {
    return h("form.inline", { id: "close-form", onsubmit: (e) => {
      e.preventDefault();
      act("close", { disposition: { result: result.value, notes: text.value } });
    } }, h("strong", {}, t("close.title")), result, text,
    h("div.actions", {}, h("button.primary", { type: "submit", id: "close-submit" }, t("action.close")),
      h("button", { type: "button", onclick: () => { closing = false; drawDetail(); } }, t("cancel"))));
  }

  function muteForm(a) {
    const until = Math.max(a.silenced_until || 0, a.shelved_until || 0);
    return h("details", { id: "mute-form", open: muteOpen, ontoggle: (e) => { muteOpen = e.target.open; } }, h("summary", {}, t("mute.title"), until > now() ? ` (${t("mute.until")} ${clock(until)})` : ""),
      h("form.inline", { onsubmit: async (e) => {
        e.preventDefault();
        replace(message);
        try {
          await post(`/api/alarms/${a.id}/mute`, { how: how.value, minutes: Number(minutes.value), reason: reason.value });
          await loadDetail();
        } catch (err) { replace(message, err.message); }
      } }, how, minutes, reason, h("button", { type: "submit", id: "mute-submit" }, t("mute.apply"))));
  }

  function commands(a, site, dev) {
    const relays = Object.keys(dev.values || {}).filter((k) => k === "relay" || k.endsWith(".relay")).sort(naturally);
    const reset = a.condition === "active" && a.handling !== "raised";
    if ((!relays.length && !reset) || !site.gateway) return null;
    return h("div", { id: "alarm-commands" }, h("h2", {}, t("duty.commands")), h("div.actions", {},
      reset ? kept(`reset/${a.key}`, () => resetOnSite({ site: a.site, gateway: site.gateway, key: a.key })) : null,
      relays.map((point) => kept(`${a.device}/${point}/${dev.values[point] === true}`, () => relayControl({
        site: a.site, gateway: site.gateway, device: a.device, point, on: dev.values[point] === true })))));
  }

  // Command controls are made once per command: an update of the alarm redraws the detail but keeps a
  // confirmation the officer is about to give, or the gateway's answer (before: the reset's confirmation
  // vanished when the alarm's own event arrived a moment after a click; seen in a fresh-clone CI run).
  const controls = new Map();
  function kept(tag, make) {
    if (!controls.has(tag)) controls.set(tag, make());
    return controls.get(tag);
  }

  function keys(e) {
    if (!detail || e.ctrlKey || e.metaKey || e.altKey || /INPUT|TEXTAREA|SELECT/.test(e.target.tagName)) return;
    const action = KEYS[e.key];
    const button = action && side.querySelector(`button[data-action="${action}"]`);
    if (button) { e.preventDefault(); button.click(); }
  }
  document.addEventListener("keydown", keys);

  return {
    async load() { drawQueue(); await loadDetail(); },
    onAlarm(alarm) {
      drawQueue();
      if (!alarm || alarm.id === selected) loadDetail().catch(() => {});
    },
    tick() {
      for (const cell of queue.querySelectorAll("td[data-since]")) cell.textContent = duration(now() - Number(cell.dataset.since));
      for (const cell of queue.querySelectorAll("[data-escalate]")) replace(cell, countdown(Number(cell.dataset.escalate) || null));
      for (const row of queue.querySelectorAll("tr.new")) {  // its flash is over: the fire's own mark takes over
        if (flashAt(Number(row.dataset.alarm)) === null) { row.classList.remove("new"); row.style.animationDelay = ""; }
      }
    },
    dispose() { document.removeEventListener("keydown", keys); },
  };
}

const fact = (label, content) => [h("dt", {}, label), h("dd", {}, content)];
const naturally = (a, b) => a.localeCompare(b, "en", { numeric: true });

function readings(values) {
  const keys = Object.keys(values).filter((k) => !k.startsWith("_")).sort(naturally);
  if (!keys.length) return h("p.muted", {}, "–");
  return h("dl.facts", { id: "detail-readings" }, keys.slice(0, 40).map((k) => fact(pointLabel(k), withUnit(k, values[k]))));
}

function timeline(log, events) {
  const items = [
    ...log.map((e) => ({ at: e.at, text: `${e.who}: ${t(`log.${e.action}`, {}, e.action.replace(/_/g, " "))}${notesOf(e.notes)}` })),
    ...events.map((e) => ({ at: e.t, text: `${t("log.device")}: ${eventLabel(e.kind)}` })),
  ].sort((x, y) => y.at - x.at);
  return h("ul.timeline", { id: "detail-timeline" }, items.slice(0, 60).map((i) => h("li", {}, h("span.muted", {}, clock(i.at)), " ", i.text)));
}

function notesOf(notes) {
  if (!notes || notes.startsWith("{")) return "";
  return ` · ${notes}`;
}
