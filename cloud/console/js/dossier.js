// A site's dossier (一户一档), beside its alarms and on its page: whom to call (those on duty now first,
// each number a tel: link for a phone), how to get in, where the water is, the nearest micro station.
import { h } from "./dom.js";
import { t } from "./i18n.js";

function onDuty(hours, at = new Date()) {
  const [from, to] = hours.split("-").map((x) => { const [hh, mm] = x.split(":").map(Number); return hh * 60 + mm; });
  const now = at.getHours() * 60 + at.getMinutes();
  return from <= to ? now >= from && now < to : now >= from || now < to;  // 20:00-08:00 runs through midnight
}

export function dossier(d) {
  if (!d) return null;
  const contacts = [...d.contacts].sort((a, b) => onDuty(b.hours) - onDuty(a.hours));
  return h("section.dossier", { id: "dossier" }, h("h2", {}, t("dossier.title")),
    h("dl.facts", {},
      d.address ? [h("dt", {}, t("dossier.address")), h("dd", {}, d.address)] : null,
      d.access ? [h("dt", {}, t("dossier.access")), h("dd", {}, d.access)] : null,
      d.nearest_station ? [h("dt", {}, t("dossier.station")), h("dd", { id: "dossier-station" },
        h("a", { href: `#/site/${encodeURIComponent(d.nearest_station.site)}` }, d.nearest_station.name),
        ` · ${t("dossier.distance", { m: d.nearest_station.distance_m })}`)] : null,
      d.water.length ? [h("dt", {}, t("dossier.water")), h("dd", {}, d.water.map((w) => `${t(`water.${w.kind}`)} · ${w.where}`).join(" / "))] : null),
    contacts.length ? h("ul.contacts", { id: "dossier-contacts" }, contacts.map((c) => h("li", { class: onDuty(c.hours) ? "on-duty" : null },
      h("strong", {}, c.name), c.role ? ` · ${c.role}` : "", " ",
      h("a", { href: `tel:${c.phone.replace(/[ -]/g, "")}` }, c.phone),
      h("span.muted", {}, ` · ${c.hours}${onDuty(c.hours) ? ` · ${t("dossier.on_duty")}` : ""}`)))) : null);
}
