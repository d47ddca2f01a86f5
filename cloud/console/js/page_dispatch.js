// The page a dispatched micro station opens from its SMS (no sign-in: the token in the address is the key):
// where the fire is, how to get in, where the water is, the plan with the device marked, the newest camera
// picture, and two big buttons, "on our way" and "on scene", each written into the alarm's log.
import { dossier } from "./dossier.js";
import { clock, h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { planView } from "./plan.js";

const root = document.getElementById("dispatch");
const token = decodeURIComponent(location.pathname.split("/").pop());
const base = `/api/dispatch/${encodeURIComponent(token)}`;

async function call(method, path = "") {
  const response = await fetch(base + path, { method, headers: { accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function answerButton(step, label, at) {
  if (at) return h("p.answered", { "data-answered": step }, `${label} · ${clock(at)}`);
  return h("button.primary.big", { "data-step": step, onclick: async (e) => {
    e.target.disabled = true;
    try { await call("POST", `/${step}`); await load(); } catch (err) {
      e.target.disabled = false;
      e.target.after(h("p.error", { role: "alert" }, err.message));
    }
  } }, label);
}

function draw(v) {
  const a = v.alarm;
  replace(root,
    h("h1", {}, `${t(`class.${a.class}`)} · ${v.site}`),
    h("p", {}, [v.device_name, a.text || t(`rule.${a.rule}`, {}, "")].filter(Boolean).join(" · "), h("br"), `${t("col.raised")} ${clock(a.raised_at)}`),
    h("div.dispatch-answers", {},
      answerButton("acknowledged", t("dispatch.acknowledged"), v.acknowledged_at),
      v.acknowledged_at ? answerButton("on_scene", t("dispatch.on_scene"), v.on_scene_at) : null),
    v.snapshot ? h("figure", { id: "dispatch-picture" }, h("img", { src: `${base}/picture`, alt: t("snapshot.title") }),
      h("figcaption", {}, `${t("snapshot.title")} · ${clock(v.snapshot.taken_at)}`)) : null,
    v.plan ? h("section", {}, h("h2", {}, `${t("plan.title")} · ${v.plan.name}`),
      planView({ plan: v.plan, highlight: a.device, states: { [a.device]: "alarm" }, src: `${base}/plans/${v.plan.id}/image` })) : null,
    dossier(v.dossier));
}

async function load() {
  try { draw(await call("GET")); } catch (err) { replace(root, h("p.error", {}, err.message)); }
}

load();
