// Maintenance: the device health table with filters (offline, faulty, low battery, firmware mismatch,
// street, site kind, text), and open tickets with their deadlines, overdue first.
import { get, post } from "./api.js";
import { clock, compare, duration, h, now, replace, throttle, value } from "./dom.js";
import { t } from "./i18n.js";

const LIMIT = 400;  // rows drawn at once; the filters narrow a district's thousands
const FLAGS = ["offline", "faulty", "low_battery", "firmware_mismatch", "stale", "flapping"];

export function render({ main, can }) {
  const chosen = new Set();
  let street = "", kind = "", text = "";
  let devices = [], sites = {}, tickets = [];
  const table = h("div", { id: "device-table" });
  const ticketBox = h("div", { id: "tickets" });
  const count = h("span.muted", { id: "device-count", role: "status" });

  async function load() {
    const [health, siteList, ticketList] = await Promise.all([get("/api/health"), get("/api/sites"), get("/api/tickets")]);
    sites = Object.fromEntries(siteList.map((s) => [s.id, s]));
    devices = health.devices.map((d) => ({ ...d, offline: d.online === false, unknown: d.online === null, faulty: d.faults.length > 0,
      street: sites[d.site]?.street || "", kind: sites[d.site]?.kind || "", siteName: sites[d.site]?.name || d.site }));
    tickets = ticketList;
    if (!main.contains(table)) {
      replace(main, h("h1", {}, t("maint.title")), filters(siteList), count, table, h("h2", {}, t("maint.tickets")), ticketBox);
    }
    drawTable();
    drawTickets();
  }

  function filters(siteList) {
    const streets = [...new Set(siteList.map((s) => s.street))].sort(compare);
    const kinds = [...new Set(siteList.map((s) => s.kind))].sort();
    return h("div.filters.panel", { id: "filters" },
      FLAGS.map((flag) => h("label", {}, h("input", { type: "checkbox", name: flag, checked: chosen.has(flag),
        onchange: (e) => { if (e.target.checked) chosen.add(flag); else chosen.delete(flag); drawTable(); } }),
      t(`flag.${flag}`))),
      h("select", { name: "street", "aria-label": t("col.street"), onchange: (e) => { street = e.target.value; drawTable(); } },
        h("option", { value: "" }, t("maint.all_streets")), streets.map((s) => h("option", { value: s, selected: s === street }, s))),
      h("select", { name: "kind", "aria-label": t("col.kind"), onchange: (e) => { kind = e.target.value; drawTable(); } },
        h("option", { value: "" }, t("maint.all_kinds")), kinds.map((k) => h("option", { value: k, selected: k === kind },
          t(`kind.${k}`, {}, k)))),
      h("input", { type: "search", name: "text", placeholder: t("maint.search"), "aria-label": t("maint.search"), value: text,
        oninput: (e) => { text = e.target.value.trim().toLowerCase(); drawTable(); } }));
  }

  function drawTable() {
    const shown = devices.filter((d) => [...chosen].every((flag) => d[flag])
      && (!street || d.street === street) && (!kind || d.kind === kind)
      && (!text || `${d.site} ${d.siteName} ${d.id} ${d.name} ${d.profile}`.toLowerCase().includes(text)))
      .sort((a, b) => Number(b.offline) - Number(a.offline) || Number(b.faulty) - Number(a.faulty) || compare(a.site, b.site)
        || compare(a.id, b.id));
    replace(count, t("maint.count", { shown: shown.length, all: devices.length }),
      shown.length > LIMIT ? ` · ${t("maint.first", { n: LIMIT })}` : "");
    replace(table, h("table", {}, h("thead", {}, h("tr", {},
      h("th", {}, t("col.status")), h("th", {}, t("col.device")), h("th", {}, t("col.site")), h("th.optional", {}, t("col.street")),
      h("th.optional", {}, t("col.profile")), h("th", {}, t("col.battery")), h("th.optional", {}, t("col.last_seen")),
      h("th", {}, t("col.problems")))),
    h("tbody", {}, shown.slice(0, LIMIT).map((d) => h("tr", { "data-device": `${d.site}/${d.id}` },
      h("td", {}, h(`span.badge.${d.offline ? "offline" : d.faulty ? "fault" : "ok"}`, {},
        t(d.offline ? "flag.offline" : d.faulty ? "flag.faulty" : "health.ok"))),
      h("td", {}, h("a", { href: `#/device/${encodeURIComponent(d.site)}/${encodeURIComponent(d.id)}` }, d.name || d.id),
        h("div.muted", {}, d.id)),
      h("td", {}, h("a", { href: `#/site/${encodeURIComponent(d.site)}` }, d.siteName)),
      h("td.optional", {}, d.street), h("td.optional", {}, d.profile),
      h("td", {}, d.battery === null || d.battery === undefined ? "–" : `${value(d.battery)}%`),
      h("td.optional", {}, d.last_seen ? `${duration(now() - d.last_seen)} ${t("ago")}` : "–"),
      h("td", {}, problems(d)))))));
  }

  function drawTickets() {
    if (!tickets.length) { replace(ticketBox, h("p.muted", {}, t("maint.no_tickets"))); return; }
    const message = h("p.error-box", { role: "alert" });
    replace(ticketBox, message, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("col.deadline")), h("th", {}, t("col.ticket")),
      h("th", {}, t("col.device")), h("th.optional", {}, t("col.opened")), h("th", {}, t("col.status")), h("th", {}))),
    h("tbody", {}, tickets.map((k) => {
      const late = k.deadline < now();
      const notes = h("input", { placeholder: t("maint.close_notes"), "aria-label": t("maint.close_notes") });
      return h("tr", { "data-ticket": k.id },
        h("td", { class: late ? "overdue" : null }, clock(k.deadline), h("div", {}, late ? t("maint.overdue") : `${t("maint.left")} ${duration(k.deadline - now())}`)),
        h("td", {}, t(`ticket.${k.kind}`, {}, k.kind), h("div.muted", {}, t(`level.${k.level}`, {}, k.level))),
        h("td", {}, h("a", { href: `#/device/${encodeURIComponent(k.site)}/${encodeURIComponent(k.device)}` }, `${sites[k.site]?.name || k.site} · ${k.device || t("col.gateway")}`)),
        h("td.optional", {}, clock(k.opened)), h("td", {}, t(`ticket_status.${k.status}`, {}, k.status)),
        h("td", {}, can("ticket.handle") ? h("form", { onsubmit: async (e) => {
          e.preventDefault();
          // a fault that still holds is deferred with a reason (deadline kept); one that has gone is closed
          const [url, body] = k.status === "review" ? [`/api/tickets/${k.id}/close`, { notes: notes.value }]
            : [`/api/tickets/${k.id}/defer`, { reason: notes.value }];
          try { await post(url, body); await load(); } catch (err) { replace(message, err.message); }
        } }, notes, " ", h("button", { type: "submit" }, t(k.status === "review" ? "maint.close" : "maint.defer"))) : null));
    }))));
  }

  return { load, onHealth: throttle(() => load().catch(() => {}), 5000) };
}

function problems(d) {
  const list = [];
  if (d.offline) list.push(t("flag.offline"));
  if (d.stale) list.push(t("flag.stale"));
  if (d.flapping) list.push(t("flag.flapping"));
  if (d.low_battery) list.push(t("flag.low_battery"));
  if (d.firmware_mismatch) list.push(t("flag.firmware_mismatch"));
  list.push(...d.faults.map((f) => t(`fault.${f}`, {}, f)));
  return list.join(" · ") || "–";
}
