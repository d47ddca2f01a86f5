// The alarm history: closed and shelved alarms, searched by time range, street, site, class, result and
// text; each row opens the alarm's own page (its detail, disposition and timeline stay reachable); the
// same search downloads as CSV or XLSX (headers in the console's language).
import { get } from "./api.js";
import { badge, clock, h, replace } from "./dom.js";
import { lang, t } from "./i18n.js";

const CLASSES = ["fire", "supervisory", "fault", "prewarning", "status"];
const RESULTS = ["extinguished", "cause_removed", "false_alarm", "device_fault", "drill", "other"];

export function render({ state, main }) {
  const streets = [...new Set(Object.values(state.sites).map((s) => s.street).filter(Boolean))].sort();
  const field = {
    since: h("input", { type: "date", name: "since", "aria-label": t("history.since") }),
    until: h("input", { type: "date", name: "until", "aria-label": t("history.until") }),
    street: h("select", { name: "street", "aria-label": t("col.street") },
      h("option", { value: "" }, t("maint.all_streets")), streets.map((s) => h("option", { value: s }, s))),
    site: h("input", { name: "site", placeholder: t("history.site"), "aria-label": t("history.site") }),
    class: h("select", { name: "class", "aria-label": t("col.class") },
      h("option", { value: "" }, t("history.all_classes")), CLASSES.map((c) => h("option", { value: c }, t(`class.${c}`)))),
    result: h("select", { name: "result", "aria-label": t("close.result") },
      h("option", { value: "" }, t("history.all_results")), RESULTS.map((r) => h("option", { value: r }, t(`result.${r}`)))),
    text: h("input", { name: "text", placeholder: t("history.text"), "aria-label": t("history.text") }),
  };
  const found = h("div", { id: "history-results" });
  const csv = h("a", { id: "export-csv", download: "" }, t("history.csv"));
  const xlsx = h("a", { id: "export-xlsx", download: "" }, t("history.xlsx"));
  replace(main, h("h1", {}, t("history.title")),
    h("form.filters", { id: "history-filters", onsubmit: (e) => { e.preventDefault(); load().catch((err) => replace(found, h("p.error-box", { role: "alert" }, err.message))); } },
      field.since, "–", field.until, field.street, field.site, field.class, field.result, field.text,
      h("button.primary", { type: "submit", id: "history-search" }, t("admin.search")), csv, xlsx),
    found);

  function query() {
    const q = new URLSearchParams();
    const day = (input, end) => new Date(`${input.value}T00:00:00`).getTime() / 1000 + (end ? 86400 : 0);
    if (field.since.value) q.set("since", day(field.since));
    if (field.until.value) q.set("until", day(field.until, true));
    for (const key of ["street", "class", "result"]) if (field[key].value) q.set(key, field[key].value);
    // a site by its name or id: the names the console knows become the id the collector knows
    const site = field.site.value.trim();
    if (site) q.set("site", Object.values(state.sites).find((s) => s.name === site)?.id || site);
    if (field.text.value.trim()) q.set("text", field.text.value.trim());
    return q;
  }

  async function load() {
    const q = query();
    const rows = await get(`/api/history?${q}`);
    const exported = new URLSearchParams(q);
    exported.set("lang", lang() === "en" ? "en" : "zh");
    csv.href = `/api/history.csv?${exported}`;
    xlsx.href = `/api/history.xlsx?${exported}`;
    replace(found, h("p.muted", { id: "history-count", role: "status" }, t("history.count", { n: rows.length })),
      rows.length ? h("table", { id: "history-table" }, h("thead", {}, h("tr", {},
        [t("col.raised"), t("col.class"), t("col.alarm"), t("col.street"), t("col.handling"), t("close.result"),
          t("close.notes"), t("close.when")].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.map((a) => h("tr", { "data-alarm": a.id },
        h("td", {}, clock(a.raised_at)), h("td", {}, badge(a.class)),
        h("td", {}, h("a", { href: `#/duty/${a.id}` }, a.text || t(`rule.${a.rule}`, {}, a.rule)),
          h("div.muted", {}, `${state.sites[a.site]?.name || a.site}${a.device ? ` · ${a.device}` : ""}`)),
        h("td", {}, a.street || "–"),
        h("td", {}, a.handling === "closed" ? t("handling.closed") : t("history.shelved")),
        h("td", {}, a.disposition?.result ? t(`result.${a.disposition.result}`, {}, a.disposition.result) : "–"),
        h("td", {}, a.disposition?.notes || "–"), h("td", {}, clock(a.closed_at)))))) : null);
  }
  return { load };
}
