// The link to the city's monitoring centre (GB/T 26875.3): every frame exchanged, newest first, with what
// became of it (sent, confirmed, retried, unconfirmed, denied, received), filtered by site; refreshed live.
import { get } from "./api.js";
import { clock, h, replace } from "./dom.js";
import { t } from "./i18n.js";

export function render({ state, main }) {
  const site = h("select", { id: "centre-site", "aria-label": t("col.site"), onchange: () => load() },
    h("option", { value: "" }, t("centre.all_sites")),
    Object.entries(state.sites).sort().map(([id, s]) => h("option", { value: id }, s.name || id)));
  const table = h("div", { id: "centre-frames" });
  replace(main, h("h1", {}, t("centre.title")), h("p.muted", {}, t("centre.intro")),
    h("div.filters", {}, site), table);

  async function load() {
    const rows = await get(`/api/uitd/frames?limit=300${site.value ? `&site=${encodeURIComponent(site.value)}` : ""}`);
    if (!rows.length) { replace(table, h("p.muted", {}, t("centre.none"))); return; }
    replace(table, h("table.compact", {}, h("thead", {}, h("tr", {},
      ["centre.at", "col.site", "centre.direction", "centre.command", "centre.serial", "centre.state", "centre.detail"]
        .map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows.map((f) => h("tr", { "data-state": f.state, "data-command": f.command_name },
      h("td", {}, clock(f.at)), h("td", {}, state.sites[f.site]?.name || f.site),
      h("td", {}, t(`centre.${f.direction}`)), h("td", {}, t(`centre.cmd.${f.command_name || "none"}`, {}, f.command_name)),
      h("td", {}, String(f.serial)), h("td", {}, t(`centre.state.${f.state.split(" ")[0]}`, {}, f.state)),
      h("td", { title: f.raw }, f.detail || "–"))))));
  }
  load().catch((err) => replace(table, h("p.error-box", { role: "alert" }, err.message)));
  return { load, onAlarm: () => load().catch(() => {}) };
}
