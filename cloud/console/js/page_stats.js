// Alarm statistics for a period (the last 30 days unless chosen): by class, street and month as bars; the
// false-alarm rate; median and p90 time to acknowledge and to close; the ten noisiest devices. Below, the
// monthly street report (晾晒) for any month begun, shown and downloadable as PDF and Excel.
import { get } from "./api.js";
import { duration, h, replace } from "./dom.js";
import { lang, t } from "./i18n.js";

export function render({ state, main }) {
  const since = h("input", { type: "date", name: "since", "aria-label": t("history.since") });
  const until = h("input", { type: "date", name: "until", "aria-label": t("history.until") });
  const body = h("div", { id: "stats" });
  const lastMonth = new Date(new Date().getFullYear(), new Date().getMonth() - 1, 1);
  const month = h("input", { type: "month", id: "report-month", "aria-label": t("report.month"),
    value: `${lastMonth.getFullYear()}-${String(lastMonth.getMonth() + 1).padStart(2, "0")}` });
  const report = h("div", { id: "street-report" });
  const pdf = h("a", { id: "report-pdf", download: "" }, t("report.pdf"));
  const xlsx = h("a", { id: "report-xlsx", download: "" }, t("report.xlsx"));
  replace(main, h("h1", {}, t("stats.title")),
    h("form.filters", { id: "stats-filters", onsubmit: (e) => { e.preventDefault(); load().catch((err) => replace(body, h("p.error-box", { role: "alert" }, err.message))); } },
      since, "–", until, h("button.primary", { type: "submit", id: "stats-show" }, t("stats.show"))),
    body,
    h("section.panel", { style: "margin-top:10px" }, h("h2", {}, t("report.title")),
      h("form.filters", { id: "report-form", onsubmit: (e) => { e.preventDefault(); loadReport().catch((err) => replace(report, h("p.error-box", { role: "alert" }, err.message))); } },
        month, h("button.primary", { type: "submit", id: "report-show" }, t("stats.show")), pdf, xlsx),
      report));

  let asked = 0;  // a slower answer for a month asked before never replaces the one asked last
  async function loadReport() {
    const mine = ++asked;
    const r = await get(`/api/reports/streets?month=${month.value}`);
    if (mine !== asked) return;
    const q = `month=${month.value}&lang=${lang() === "en" ? "en" : "zh"}`;
    pdf.href = `/api/reports/streets.pdf?${q}`;
    xlsx.href = `/api/reports/streets.xlsx?${q}`;
    const span = (s) => (s === null ? "–" : duration(s));
    replace(report, r.streets.length ? h("table", { id: "report-table" }, h("thead", {}, h("tr", {},
      ["rank", "street", "alarms", "fires", "false", "ack", "close", "due", "overdue", "readiness"]
        .map((k) => h("th", {}, t(`report.${k}`))))),
    h("tbody", {}, r.streets.map((s) => h("tr", { "data-street": s.street },
      h("td", {}, String(s.rank)), h("td", {}, s.street), h("td", {}, String(s.alarms)), h("td", {}, String(s.fires)),
      h("td", {}, s.false_alarm_rate === null ? "–" : `${(100 * s.false_alarm_rate).toFixed(1)} %`),
      h("td", {}, span(s.acknowledge_median_s)), h("td", {}, span(s.close_median_s)), h("td", {}, String(s.tickets_due)),
      h("td", { class: s.tickets_overdue ? "overdue" : null }, String(s.tickets_overdue)),
      h("td", {}, s.readiness ?? "–")))))
      : h("p.muted", {}, t("report.empty")));
  }

  async function load() {
    const q = new URLSearchParams();
    if (since.value) q.set("since", new Date(`${since.value}T00:00:00`).getTime() / 1000);
    if (until.value) q.set("until", new Date(`${until.value}T00:00:00`).getTime() / 1000 + 86400);
    const s = await get(`/api/statistics?${q}`);
    const rate = s.false_alarm_rate === null ? "–" : `${(100 * s.false_alarm_rate).toFixed(1)} %`;
    const spread = (x) => (x.n ? `${duration(x.median)} / ${duration(x.p90)} (${x.n})` : "–");
    replace(body,
      h("dl.facts", { id: "stats-figures" },
        fact(t("stats.alarms"), String(s.alarms)),
        fact(t("stats.false_rate"), h("span", { id: "false-rate" }, rate, s.verdicts ? ` (${t("stats.of_verdicts", { n: s.verdicts })})` : "")),
        fact(t("stats.to_ack"), h("span", { id: "to-ack" }, spread(s.to_acknowledge_s))),
        fact(t("stats.to_close"), h("span", { id: "to-close" }, spread(s.to_close_s)))),
      h("div.grid2", {},
        bars("by-class", t("stats.by_class"), Object.entries(s.by_class).map(([k, n]) => [t(`class.${k}`, {}, k), n, k])),
        bars("by-street", t("stats.by_street"), Object.entries(s.by_street).map(([k, n]) => [k || "–", n]))),
      bars("by-month", t("stats.by_month"), Object.entries(s.by_month).map(([k, n]) => [k, n])),
      h("h2", {}, t("stats.noisiest")),
      s.noisiest_devices.length ? h("table", { id: "noisiest" }, h("thead", {}, h("tr", {},
        h("th", {}, t("col.site")), h("th", {}, t("col.device")), h("th", {}, t("stats.alarms")))),
      h("tbody", {}, s.noisiest_devices.map((d) => h("tr", {},
        h("td", {}, h("a", { href: `#/site/${encodeURIComponent(d.site)}` }, state.sites[d.site]?.name || d.site)),
        h("td", {}, h("a", { href: `#/device/${encodeURIComponent(d.site)}/${encodeURIComponent(d.device)}` }, d.device)),
        h("td", {}, String(d.alarms)))))) : h("p.muted", {}, "–"));
  }
  return { async load() { await load(); await loadReport(); } };
}

const fact = (label, content) => [h("dt", {}, label), h("dd", {}, content)];

// Horizontal bars, drawn as SVG: label, bar, count.
function bars(id, title, rows) {
  const most = Math.max(1, ...rows.map((r) => r[1]));
  const height = 22;
  return h("section.panel", { id, style: "margin:8px 0" }, h("h2", {}, title),
    rows.length ? h("svg:svg", { viewBox: `0 0 420 ${rows.length * height + 4}`, role: "img", "aria-label": title, class: "bars" },
      rows.map(([label, n, cls], i) => [
        h("svg:text", { x: 0, y: i * height + 15, "font-size": 12 }, label),
        h("svg:rect", { x: 130, y: i * height + 4, width: Math.max(2, (240 * n) / most), height: 14, rx: 2,
          class: `bar ${cls || ""}`, "data-count": n }),
        h("svg:text", { x: 136 + (240 * n) / most, y: i * height + 15, "font-size": 12 }, String(n))]))
      : h("p.muted", {}, "–"));
}
