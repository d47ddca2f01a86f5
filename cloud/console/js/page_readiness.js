// The readiness board: stations by equipment category as a heat map with what is missing, streets
// ranked by the monthly index, and the month's trend per street. Numbers are the API's, unrounded further.
import { get } from "./api.js";
import { compare, h, replace } from "./dom.js";
import { itemLabel, t } from "./i18n.js";
import { lineChart } from "./chart.js";

export function render({ main }) {
  async function load() {
    const [board, ranking, history] = await Promise.all([get("/api/readiness"), get("/api/readiness/ranking"),
      get("/api/readiness/history")]);
    const categories = [...new Set(board.stations.flatMap((s) => s.categories.map((c) => c.category)))];
    const stations = [...board.stations].sort((a, b) => a.score - b.score || compare(a.name, b.name));
    replace(main,
      h("h1", {}, t("ready.title")),
      h("table.heat", { id: "readiness-heat" }, h("thead", {}, h("tr", {}, h("th", {}, t("col.site")), h("th.optional", {}, t("col.street")),
        h("th", {}, t("col.score")), categories.map((c) => h("th", {}, t(`category.${c}`, {}, c))), h("th", {}, t("ready.missing")))),
      h("tbody", {}, stations.map((s) => h("tr", { "data-site": s.site },
        h("td", {}, h("a", { href: `#/site/${encodeURIComponent(s.site)}` }, s.name)), h("td.optional", {}, s.street),
        h("td.cell", { style: `background:${heat(s.score)}`, "data-score": s.score }, String(s.score)),
        categories.map((c) => {
          const cat = s.categories.find((x) => x.category === c);
          return cat ? h("td.cell", { style: `background:${heat(cat.score)}`, title: `${cat.score}%` }, `${cat.serviceable}/${cat.required}`)
            : h("td", {}, "");
        }),
        h("td", {}, s.missing.length ? s.missing.map(itemLabel).join("、") : "–"))))),
      h("div.grid2", {},
        h("div", {}, h("h2", {}, t("ready.streets")), h("table", { id: "street-scores" }, h("thead", {}, h("tr", {}, h("th", {}, t("col.street")),
          h("th", {}, t("ready.today")))), h("tbody", {}, Object.entries(board.streets).sort((a, b) => b[1] - a[1])
          .map(([street, score]) => h("tr", {}, h("td", {}, street), h("td", { "data-score": score }, String(score))))))),
        h("div", {}, h("h2", {}, t("ready.ranking")), h("table", { id: "street-ranking" }, h("thead", {}, h("tr", {}, h("th", {}, "#"),
          h("th", {}, t("col.street")), h("th", {}, t("ready.index")))), h("tbody", {}, ranking.map((r) => h("tr", {},
          h("td", {}, r.rank), h("td", {}, r.street), h("td", {}, String(r.index)))))))),
      h("h2", {}, t("ready.trend")), trend(history, Math.min(main.clientWidth - 24, 1100)));
  }
  return { load };
}

function heat(score) {
  const hue = Math.round((Math.max(0, Math.min(100, score)) / 100) * 120);
  return `hsl(${hue}, 65%, 38%)`;
}

function trend(history, width) {
  const days = [...new Set(history.map((r) => r.day))].sort();
  const streets = [...new Set(history.map((r) => r.street))].sort(compare);
  if (!days.length) return h("p.muted", {}, t("ready.no_history"));
  const mean = (day, street) => {
    const scores = history.filter((r) => r.day === day && r.street === street).map((r) => r.score);
    return scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : null;
  };
  const times = days.map((d) => new Date(`${d}T12:00:00`).getTime() / 1000);
  const first = new Date(`${days[0].slice(0, 7)}-01T00:00:00`);
  const last = new Date(first.getFullYear(), first.getMonth() + 1, 1);
  return lineChart({ title: t("ready.trend"), times, width, unit: "%", yRange: [0, 100],
    xRange: [first.getTime() / 1000, last.getTime() / 1000],
    series: streets.map((s) => ({ label: s, values: days.map((d) => mean(d, s)) })) });
}
