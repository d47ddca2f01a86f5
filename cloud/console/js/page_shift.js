// The shift's records: handovers (交接班) and duty checks (查岗). The outgoing officer writes a note; the
// collector attaches what stands open at that moment (open and shelved alarms, overdue tickets, offline
// gateways); the incoming officer reads it and accepts it. An admin sends a duty check; every duty console
// shows it until someone answers, and a check nobody answered in time is listed as missed.
import { get, post } from "./api.js";
import { alarmTitle, badge, clock, h, replace } from "./dom.js";
import { t } from "./i18n.js";

export function render({ state, can, main }) {
  const message = h("p.error-box", { role: "alert", id: "shift-error" });
  const note = h("textarea", { id: "handover-note", rows: 3, placeholder: t("shift.note"), "aria-label": t("shift.note") });
  const list = h("div", { id: "handovers" });
  const checks = h("div", { id: "duty-checks" });
  const within = h("input", { id: "check-within", type: "number", min: 10, max: 600, value: 60, style: "width:6em",
    "aria-label": t("check.within") });
  replace(main, h("h1", {}, t("shift.title")), message,
    can("duty.record") ? h("form.inline", { id: "handover-form", onsubmit: (e) => { e.preventDefault(); write(); } },
      h("strong", {}, t("shift.write")), h("p.muted", {}, t("shift.attached")), note,
      h("div.actions", {}, h("button.primary", { type: "submit", id: "handover-submit" }, t("shift.submit")))) : null,
    h("section.panel", {}, h("h2", {}, t("shift.list")), list),
    h("section.panel", { style: "margin-top:10px" }, h("h2", {}, t("check.title")),
      can("duty.check") ? h("form.filters", { id: "check-form", onsubmit: (e) => { e.preventDefault(); send(); } },
        h("label", {}, t("check.within"), within), h("button.primary", { type: "submit", id: "check-send" }, t("check.send"))) : null,
      checks));

  async function attempt(fn) {
    replace(message);
    try { await fn(); await load(); } catch (error) { replace(message, error.message); }
  }
  const write = () => attempt(async () => { await post("/api/handovers", { note: note.value }); note.value = ""; });
  const send = () => attempt(() => post("/api/duty-checks", { within_s: Number(within.value) }));

  function drawHandover(x) {
    const s = x.snapshot || {};
    const counts = s.counts || {};
    const acceptNote = h("input", { placeholder: t("shift.accept_note"), "aria-label": t("shift.accept_note") });
    const mine = x.outgoing === state.me.user;
    const siteName = (id) => state.sites[id]?.name || id;
    return h("article.panel.handover", { "data-handover": x.id, style: "margin:8px 0" },
      h("h3", {}, `${clock(x.written_at)} · ${x.outgoing}`, " ",
        x.accepted_by ? h("span.badge.ok", {}, t("shift.accepted_by", { who: x.accepted_by }))
          : h("span.badge.supervisory", {}, t("shift.pending"))),
      h("p", { class: "note" }, x.note),
      h("p.muted", { "data-counts": "" }, t("shift.counts", { open: counts.open ?? 0, shelved: counts.shelved ?? 0,
        tickets: counts.overdue_tickets ?? 0, gateways: counts.offline_gateways ?? 0 })),
      (s.open || []).length || (s.shelved || []).length ? h("ul", {}, [...(s.open || []), ...(s.shelved || [])].slice(0, 20)
        .map((a) => h("li", {}, badge(a.class), " ", h("a", { href: `#/duty/${a.id}` }, alarmTitle(a)),
          ` · ${siteName(a.site)} · ${t(`handling.${a.handling}`, {}, a.handling)}`))) : null,
      (s.offline_gateways || []).length ? h("p.muted", {}, t("shift.offline"), " ",
        s.offline_gateways.slice(0, 20).map((g) => siteName(g.site)).join("、")) : null,
      x.accepted_by ? h("p.muted", {}, `${clock(x.accepted_at)}${x.accept_note ? ` · ${x.accept_note}` : ""}`)
        : can("duty.record") && !mine ? h("div.actions", {}, acceptNote,
          h("button.primary", { "data-accept": x.id, onclick: () => attempt(() => post(`/api/handovers/${x.id}/accept`, { note: acceptNote.value })) },
            t("shift.accept"))) : null);
  }

  function drawChecks(rows) {
    replace(checks, rows.length ? h("table", { id: "check-table" }, h("thead", {}, h("tr", {},
      [t("check.sent"), t("check.by"), t("check.due"), t("col.status"), t("check.answered")].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((c) => h("tr", { "data-check": c.id, "data-state": c.state },
      h("td", {}, clock(c.sent_at)), h("td", {}, c.sent_by === "schedule" ? t("check.schedule") : c.sent_by),
      h("td", {}, clock(c.due_at)), h("td", { class: c.state === "missed" ? "overdue" : null }, t(c.state === "answered" ? "check.answered_state" : `check.${c.state}`)),
      h("td", {}, c.answered_by ? `${c.answered_by} · ${clock(c.answered_at)}` : "–")))))
      : h("p.muted", {}, t("check.none")));
  }

  async function load() {
    const [handovers, recent] = await Promise.all([get("/api/handovers"), get("/api/duty-checks")]);
    replace(list, handovers.length ? handovers.map(drawHandover) : h("p.muted", {}, t("shift.none")));
    drawChecks(recent);
  }
  return { load, onCheck: () => load().catch(() => {}) };
}
