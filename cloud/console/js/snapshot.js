// Camera pictures of an alarm (视频复核): the newest large with the time it was taken, older ones small,
// and a button asking the site's gateway for a fresh one (the picture appears when it arrives: the
// alarm's own event redraws the detail).
import { post } from "./api.js";
import { waitFor } from "./commands.js";
import { clock, h, replace } from "./dom.js";
import { t } from "./i18n.js";

const src = (s) => `/api/snapshots/${s.id}/image`;
const caption = (s) => `${s.camera} · ${t("snapshot.channel", { n: s.channel })} · ${t("snapshot.taken")} ${clock(s.taken_at)}`;

export function freshPicture(alarmId) {
  const status = h("span.muted", { role: "status" });
  const button = h("button", { id: "snapshot-fresh", onclick: ask }, t("snapshot.fresh"));
  async function ask() {
    button.disabled = true;
    replace(status, t("command.sent"));
    try {
      const cmd = await post(`/api/alarms/${alarmId}/snapshot`, {});
      await waitFor(cmd.id, (now) => replace(status, now.state === "successful" ? t("snapshot.arrived")
        : `${t(`command.${now.state}`, {}, now.state)}${now.reason ? ` (${now.reason})` : ""}`));
    } catch (err) {
      replace(status, err.message);
    }
    button.disabled = false;
  }
  return h("div.actions", {}, button, " ", status);
}

export function pictures(a, fresh) {
  const shots = a.snapshots || [];
  if (!shots.length && !fresh) return null;
  const [newest, ...older] = shots;
  return h("section.pictures", { id: "detail-pictures" }, h("h2", {}, t("snapshot.title")),
    newest ? h("figure", { id: "snapshot-newest", "data-snapshot": newest.id },
      h("a", { href: src(newest), target: "_blank", rel: "noopener" },
        h("img", { src: src(newest), alt: caption(newest), width: newest.width, height: newest.height })),
      h("figcaption", {}, caption(newest))) : h("p.muted", {}, t("snapshot.none")),
    older.length ? h("div.thumbs", {}, older.map((s) => h("a", { href: src(s), target: "_blank", rel: "noopener", title: caption(s) },
      h("img", { src: src(s), alt: caption(s) })))) : null,
    fresh);
}
