// A device: what it is and where, its latest values, its readings over time as charts (port
// temperature and current, pipe pressure, battery...), its events, tickets and open alarms.
import { get } from "./api.js";
import { alarmTitle, badge, clock, duration, h, now, replace, value, onlineBadge, withUnit } from "./dom.js";
import { eventLabel, pointLabel, t } from "./i18n.js";
import { carryForward, lineChart } from "./chart.js";

const FAMILIES = [
  ["temperature", /temperature$/, "°C"], ["current", /(?<!residual_)current$/, "A"],
  ["residual_current", /^residual_current$/, "mA"], ["power", /power$/, "W"],
  ["pressure", /pressure$/, "MPa"], ["battery", /(^battery$|\.soc$)/, "%"], ["voltage", /voltage$/, "V"],
  ["obscuration", /obscuration$/, "%/m"],
];
const SPANS = [1, 6, 24, 168];

export function render({ state, params, main }) {
  const [site, id] = params;
  let hours = 24;
  async function load() {
    const d = await get(`/api/sites/${encodeURIComponent(site)}/devices/${encodeURIComponent(id)}?hours=${hours}`);
    const charts = h("div", { id: "device-charts" });
    replace(main,
      h("h1", {}, d.name || d.id, " ", onlineBadge(d.online)),
      h("dl.facts", {},
        fact(t("col.site"), h("a", { href: `#/site/${encodeURIComponent(site)}` }, state.sites[site]?.name || site)),
        fact(t("col.device"), d.id),
        fact(t("col.kind"), t(`kind.${d.kind}`, {}, d.kind || "–")), fact(t("col.location"), d.location || "–"),
        fact(t("col.profile"), d.profile), fact(t("col.configured"), d.configured_profile || "–"),
        fact(t("col.last_seen"), d.last_seen ? `${clock(d.last_seen)} (${duration(now() - d.last_seen)} ${t("ago")})` : "–")),
      h("div.actions", { role: "group", "aria-label": t("device.span") }, SPANS.map((n) => h(n === hours ? "button.primary" : "button", {
        onclick: () => { hours = n; load(); } }, n < 24 ? `${n}${t("unit.h")}` : `${n / 24}${t("unit.d")}`))),
      charts,
      d.alarms.length ? [h("h2", {}, t("device.alarms")), h("ul", {}, d.alarms.map((a) => h("li", {}, badge(a.class), " ",
        h("a", { href: `#/duty/${a.id}` }, alarmTitle(a)), ` · ${t(`handling.${a.handling}`)}`)))] : null,
      d.tickets.length ? [h("h2", {}, t("maint.tickets")), h("ul", {}, d.tickets.map((k) => h("li", { class: k.deadline < now() ? "overdue" : null },
        `${t(`ticket.${k.kind}`, {}, k.kind)} · ${t("col.deadline")} ${clock(k.deadline)}`)))] : null,
      h("details", { open: Object.keys(d.values).length <= 24 }, h("summary", {}, t("device.values")),
        h("dl.facts", { id: "device-values" },
          Object.keys(d.values).filter((k) => !k.startsWith("_")).sort(naturally).map((k) => fact(pointLabel(k), withUnit(k, d.values[k]))))),
      h("h2", {}, t("device.events")), h("ul.timeline", {}, d.events.map((e) => h("li", {}, h("span.muted", {}, clock(e.t)), " ", eventLabel(e.kind)))));
    const width = Math.min(main.clientWidth - 24, 1100);
    const keys = [...new Set(d.readings.flatMap((r) => Object.keys(r.values)))].sort(naturally);
    let drawn = 0;
    for (const [family, pattern, unit] of FAMILIES) {
      const mine = keys.filter((k) => pattern.test(k) && !/rated_|_limit/.test(k));
      if (!mine.length) continue;
      const { times, columns } = carryForward(d.readings, mine);
      if (!columns.some((c) => c.some((v) => v !== null))) continue;
      charts.append(lineChart({ title: t(`chart.${family}`), times, unit, width,
        series: mine.map((k, i) => ({ label: pointLabel(k), values: columns[i] })) }));
      drawn += 1;
    }
    if (!drawn) charts.append(h("p.muted", {}, t("device.no_readings")));
  }
  return { load };
}

const fact = (label, content) => [h("dt", {}, label), h("dd", {}, content)];
const naturally = (a, b) => a.localeCompare(b, "en", { numeric: true });
