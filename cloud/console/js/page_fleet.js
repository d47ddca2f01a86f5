// The fleet: every gateway with its agent, configuration and profile versions, last heartbeat, CPU, memory,
// disk, outbox and bus error rate, and clock trust; filters for the ones that need someone (behind the
// newest agent, outbox growing, bus errors); a gateway's heartbeats over time as charts.
import { get, post } from "./api.js";
import { lineChart } from "./chart.js";
import { waitFor } from "./commands.js";
import { clock, h, replace } from "./dom.js";
import { t } from "./i18n.js";

const FILTERS = ["", "behind", "outbox_growing", "bus_errors"];

export function render({ main, can }) {
  let only = "";
  const filters = h("div.filters", { id: "fleet-filters" });
  const table = h("div", { id: "fleet-table" });
  const charts = h("div", { id: "fleet-charts" });
  replace(main, h("h1", {}, t("fleet.title")), filters, table, charts);

  function drawFilters(newest) {
    replace(filters, FILTERS.map((f) => h(f === only ? "button.primary" : "button", { "data-filter": f || "all",
      onclick: () => { only = f; load(); } }, t(`fleet.only.${f || "all"}`))), h("span.muted", {}, ` ${t("fleet.newest", { v: newest || "–" })}`));
  }

  async function load() {
    const answer = await get(`/api/fleet${only ? `?only=${only}` : ""}`);
    drawFilters(answer.newest_agent);
    const rows = answer.gateways;
    if (!rows.length) { replace(table, h("p.muted", {}, t("fleet.none"))); return; }
    const num = (v, digits = 0) => (typeof v === "number" ? v.toFixed(digits) : "–");
    replace(table, h("table.compact", {}, h("thead", {}, h("tr", {}, ["fleet.gateway", "col.site", "fleet.heartbeat", "fleet.agent",
      "fleet.config", "fleet.profiles", "fleet.cpu", "fleet.rss", "fleet.disk", "fleet.outbox", "fleet.errors", "fleet.clock"]
      .map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows.map((g) => h("tr", { "data-gateway": g.id, class: g.online ? "" : "offline" },
      h("td", {}, h("button.link", { "data-chart-gateway": g.id, onclick: () => chart(g.id) }, g.id)), h("td", {}, g.name),
      h("td", {}, g.last_heartbeat ? clock(g.last_heartbeat) : "–"),
      h("td", { class: g.behind ? "warn" : "" }, g.agent_version || "–", g.behind ? ` (${t("fleet.only.behind")})` : ""),
      h("td", {}, g.config_version || "–"), h("td", {}, g.profiles_version || "–"),
      h("td", {}, num(g.cpu, 1)), h("td", {}, num(g.rss_mb)), h("td", {}, num(g.disk_free_mb)),
      h("td", { class: g.outbox_growing ? "warn" : "" }, num(g.outbox)),
      h("td", { class: g.bus_errors ? "warn" : "" }, `${num(100 * (g.error_rate || 0), 1)} %`),
      h("td", {}, g.clock_trusted === false ? t("fleet.untrusted") : t("fleet.trusted")))))));
  }

  async function chart(gateway) {
    const samples = await get(`/api/fleet/${encodeURIComponent(gateway)}/samples?hours=24`);
    const times = samples.map((s) => s.t);
    const width = Math.min(900, main.clientWidth - 20);
    const xRange = [Date.now() / 1000 - 24 * 3600, Date.now() / 1000];
    replace(charts, h("h2", { id: "fleet-chart-title" }, t("fleet.chart", { gateway })),
      samples.length ? [
        lineChart({ title: t("fleet.cpu"), times, width, xRange, unit: "%", series: [{ label: t("fleet.cpu"), values: samples.map((s) => s.cpu) }] }),
        lineChart({ title: t("fleet.outbox"), times, width, xRange, series: [{ label: t("fleet.outbox"), values: samples.map((s) => s.outbox) }] }),
        lineChart({ title: t("fleet.rss"), times, width, xRange, unit: "MB", series: [{ label: t("fleet.rss"), values: samples.map((s) => s.rss) }] }),
      ] : h("p.muted", {}, t("fleet.no_samples")), can("logs.fetch") ? logsPanel(gateway) : null);
  }

  // A gateway's log lines on request: asked for (time range, level, text), sent up compressed, shown here.
  function logsPanel(gateway) {
    const hours = h("select", { id: "logs-hours", "aria-label": t("logs.hours") }, [1, 6, 24, 72].map((n) =>
      h("option", { value: n }, t("logs.last_hours", { n }))));
    const level = h("select", { id: "logs-level", "aria-label": t("logs.level") }, ["debug", "info", "warning", "error"].map((l) =>
      h("option", { value: l, selected: l === "info" }, l)));
    const text = h("input", { id: "logs-text", placeholder: t("logs.text"), "aria-label": t("logs.text") });
    const status = h("span.muted", { role: "status", id: "logs-status" });
    const list = h("ul", { id: "logs-list" });
    const viewer = h("pre.log-lines", { id: "logs-view" });
    async function refresh() {
      const bundles = await get(`/api/fleet/${encodeURIComponent(gateway)}/logs`);
      replace(list, bundles.map((b) => h("li", { "data-bundle": b.id }, `${clock(b.received_at)} · ${t("logs.lines", { n: b.lines })} `,
        h("button.link", { "data-view": b.id, onclick: () => view(b.id) }, t("logs.view")), " ",
        h("a", { href: `/api/logs/${b.id}?download=1`, download: "" }, t("logs.download")))));
      return bundles;
    }
    async function view(id) {
      const answer = await fetch(`/api/logs/${id}`, { credentials: "same-origin" });
      replace(viewer, await answer.text());
    }
    async function ask(e) {
      e.preventDefault();
      replace(status, t("command.sent"));
      try {
        const cmd = await post(`/api/fleet/${encodeURIComponent(gateway)}/logs`, { hours: Number(hours.value), level: level.value, text: text.value });
        const done = await waitFor(cmd.id, (now) => replace(status, `${t(`command.${now.state}`, {}, now.state)}${now.reason ? ` (${now.reason})` : ""}`));
        for (let i = 0; done?.state === "successful" && i < 60; i += 1) {
          const mine = (await refresh()).find((b) => b.command === cmd.id);
          if (mine) { await view(mine.id); break; }
          await new Promise((r) => setTimeout(r, 500));
        }
      } catch (err) { replace(status, err.message); }
    }
    refresh().catch(() => {});
    return h("section", { id: "fleet-logs" }, h("h2", {}, t("logs.title")),
      h("form.inline", { onsubmit: ask }, hours, level, text, h("button.primary", { type: "submit", id: "logs-ask" }, t("logs.ask")), status),
      list, viewer);
  }

  load().catch((err) => replace(table, h("p.error-box", { role: "alert" }, err.message)));
  return { load };
}
