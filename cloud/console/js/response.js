// Reaching people for an alarm: what the notification plan sent to whom and what came back (receipts,
// replies, keys pressed), and the nearest micro station dispatched to a confirmed fire with its answers
// (the 1-3-5 response circle: on its way, on scene, minutes after the dispatch).
import { post } from "./api.js";
import { clock, h, replace } from "./dom.js";
import { t } from "./i18n.js";

const since = (from, at) => (at ? `${clock(at)} (+${((at - from) / 60).toFixed(1)} ${t("unit.min")})` : "–");

export function notifications(a) {
  const rows = a.notifications || [];
  if (!rows.length) return null;
  return h("section", { id: "detail-notifications" }, h("h2", {}, t("notify.title")),
    h("table.compact", {}, h("thead", {}, h("tr", {}, ["notify.at", "notify.who", "notify.channel", "notify.state", "notify.back"]
      .map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows.map((n) => h("tr", { "data-channel": n.channel, "data-state": n.state },
      h("td", {}, clock(n.sent_at)),
      h("td", {}, n.who || (n.person === "*" ? t("notify.group") : n.address)),
      h("td", {}, t(`notify.via.${n.channel_type}`, {}, n.channel)),
      h("td", {}, t(`notify.state.${n.state}`, {}, n.state)),
      h("td", {}, n.reply ? t("notify.replied", { reply: n.reply }) : n.detail || (n.updated_at > n.sent_at ? clock(n.updated_at) : "–")))))));
}

// Whether this officer may dispatch for this alarm now: a confirmed fire whose site names a station.
export const dispatchable = (a, allowed) => Boolean(allowed && a.dossier?.nearest_station && a.class === "fire"
  && ["confirmed", "disposing"].includes(a.handling));

// The dispatch button with its outcome (made once per alarm: a redraw keeps the link it answered with).
export function dispatchAction(a) {
  const station = a.dossier.nearest_station;
  const status = h("span.muted", { role: "status" });
  const button = h("button.primary", { id: "dispatch-station", onclick: send }, t("dispatch.send", { name: station.name, m: station.distance_m }));
  async function send() {
    button.disabled = true;
    try {
      const answer = await post(`/api/alarms/${a.id}/dispatch`, {});
      replace(status, t("dispatch.sent", { n: answer.sent.filter((s) => s.state === "accepted").length }), " ",
        h("a", { href: answer.link, target: "_blank", rel: "noopener noreferrer", id: "dispatch-link" }, t("dispatch.page")));
    } catch (err) {
      replace(status, err.message);
      button.disabled = false;
    }
  }
  return h("div.actions", {}, button, " ", status);
}

export function dispatchBox(a, action) {
  const station = a.dossier?.nearest_station;
  const done = a.dispatches || [];
  if (!done.length && !action) return null;
  return h("section", { id: "detail-dispatch" }, h("h2", {}, t("dispatch.title")),
    done.length ? h("table.compact", {}, h("thead", {}, h("tr", {}, ["dispatch.station", "dispatch.at", "dispatch.acknowledged", "dispatch.on_scene"]
      .map((k) => h("th", {}, t(k))))),
    h("tbody", {}, done.map((d) => h("tr", { "data-dispatch": d.id },
      h("td", {}, station?.site === d.station ? station.name : d.station), h("td", {}, `${clock(d.sent_at)} · ${d.sent_by}`),
      h("td.acknowledged", {}, since(d.sent_at, d.acknowledged_at)), h("td.on-scene", {}, since(d.sent_at, d.on_scene_at)))))) : null,
    action);
}
