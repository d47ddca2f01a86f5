// The console's shell: sign-in, the header (pages, stream state, sound, language), the alarm queue
// kept live from the event stream on every page, and a hash router over the pages.
import { get, onSignedOut, post, setCsrf } from "./api.js";
import { h, replace } from "./dom.js";
import { lang, setLang, t } from "./i18n.js";
import { fireTone, muted, played, setMuted } from "./sound.js";
import { openStream } from "./stream.js";
import * as duty from "./page_duty.js";
import * as login from "./page_login.js";
import * as maintenance from "./page_maintenance.js";
import * as device from "./page_device.js";
import * as map from "./page_map.js";
import * as readiness from "./page_readiness.js";
import * as site from "./page_site.js";

const PAGES = { duty, map, maintenance, readiness, site, device };
const NAV = ["duty", "map", "maintenance", "readiness"];
const HOME = { duty_officer: "duty", maintenance: "maintenance", district_viewer: "readiness", admin: "duty" };

const state = { me: null, alarms: [], sites: {}, stream: "connecting", since: {}, news: new Set() };
const app = document.getElementById("app");
let current = null;
let closeStream = null;

window.firefleet = { state, played };  // for the browser tests and for a curious operator's devtools

function route() {
  const [name, ...params] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  return PAGES[name] ? { name, params } : { name: HOME[state.me?.role] || "duty", params: [] };
}

export function navigate(path) { location.hash = `#/${path}`; }
const can = (permission) => Boolean(state.me?.permissions?.includes(permission));

function header(active) {
  // every fire still burning or not yet answered, shelved or not: nothing may hide an unanswered fire
  const fires = state.alarms.filter((a) => a.class === "fire" && (a.condition === "active" || a.handling === "raised")).length;
  return h("header.top", {},
    h("span.brand", {}, "firefleet"),
    h("nav", { "aria-label": t("nav.label") },
      NAV.map((name) => h("a", { href: `#/${name}`, class: name === active ? "here" : "" }, t(`nav.${name}`)))),
    fires ? h("a.badge.fire", { href: "#/duty", id: "fire-count" }, `${t("class.fire")} ${fires}`) : null,
    h("span.spacer"),
    h(`span.stream.${state.stream}`, { id: "stream-state", role: "status" }, t(`stream.${state.stream}`)),
    h("button", { id: "sound-toggle", "aria-pressed": String(!muted()), onclick: () => { setMuted(!muted()); paint(); } },
      muted() ? t("sound.off") : t("sound.on")),
    h("button", { id: "lang-toggle", onclick: () => { setLang(lang() === "zh-CN" ? "en" : "zh-CN"); paint(); } },
      lang() === "zh-CN" ? "English" : "中文"),
    h("span", {}, `${state.me.user} · ${t(`role.${state.me.role}`)}`),
    h("button", { id: "sign-out", onclick: signOut }, t("sign_out")));
}

function banner() {
  if (state.stream === "reconnecting") return h("div.banner.error", { id: "stream-banner" }, t("stream.lost"));
  if (state.stream === "reconnected") return h("div.banner", { id: "stream-banner" }, t("stream.back"));
  return null;
}

async function paint() {
  if (current?.dispose) current.dispose();
  current = null;
  document.documentElement.lang = lang();
  if (!state.me) {
    replace(app, login.render({ onSignedIn: start }));
    return;
  }
  const { name, params } = route();
  const main = h("main", { id: `page-${name}` });
  replace(app, header(name), banner(), main);
  const page = PAGES[name].render({ state, params, navigate, can, main });
  current = page;
  try {
    await page.load?.();
  } catch (error) {
    replace(main, h("p.error-box", { role: "alert" }, `${t("error.load")}: ${error.message}`));
  }
}

function repaintHeader() {
  const old = app.querySelector("header.top");
  if (old) old.replaceWith(header(route().name));
  const oldBanner = document.getElementById("stream-banner");
  const fresh = banner();
  if (oldBanner && fresh) oldBanner.replaceWith(fresh);
  else if (oldBanner) oldBanner.remove();
  else if (fresh) app.querySelector("header.top").after(fresh);
}

function upsertAlarm(alarm, { quiet = false } = {}) {
  const index = state.alarms.findIndex((a) => a.id === alarm.id);
  const isNew = index < 0;
  if (alarm.handling === "closed") { if (!isNew) state.alarms.splice(index, 1); }
  else if (isNew) state.alarms.push(alarm);
  else state.alarms[index] = alarm;
  state.alarms.sort(queueOrder);
  if (isNew && !quiet && alarm.handling !== "closed") {  // quiet: announced when its event first came
    state.news.add(alarm.id);
    state.since[alarm.id] = performance.now();
    const silenced = (alarm.silenced_until || 0) * 1000 > Date.now();
    if (alarm.class === "fire" && !silenced) fireTone();
  }
}

// the class order comes from the collector (/api/me policy): one home for it
const rank = (cls) => { const i = state.me?.policy?.class_order?.indexOf(cls) ?? -1; return i < 0 ? 99 : i; };
const queueOrder = (a, b) => rank(a.class) - rank(b.class) || a.raised_at - b.raised_at;

// Alarm events that came in while the lists were being fetched: a list read before such an event must not
// undo it (seen once in CI: a door alarm raised just after a reconnect vanished until the next reload).
let arrivedDuringLoad = null;

async function loadAlarms() {
  const arrived = (arrivedDuringLoad = []);
  try {
    const [alarms, sites] = await Promise.all([get("/api/alarms"), get("/api/sites")]);
    state.alarms = alarms.sort(queueOrder);
    state.sites = Object.fromEntries(sites.map((s) => [s.id, s]));
    for (const alarm of arrived) {
      const had = state.alarms.find((a) => a.id === alarm.id);
      if (!had || (alarm.updated_at ?? 0) >= (had.updated_at ?? 0)) upsertAlarm(alarm, { quiet: true });
    }
  } finally {
    if (arrivedDuringLoad === arrived) arrivedDuringLoad = null;
  }
}

async function start(me) {
  state.me = me;
  setCsrf(me.csrf);
  try { await loadAlarms(); } catch { state.alarms = []; }
  if (closeStream) closeStream();
  closeStream = openStream({
    onState: (s) => { state.stream = s; repaintHeader(); },
    onClosed: () => { get("/api/me").catch(() => {}); },  // a 401 here signs the page out
    onReconnected: async () => {
      state.stream = "reconnected";
      repaintHeader();
      try { await loadAlarms(); } catch { /* shown by the next page load */ }
      current?.onAlarm?.();
      setTimeout(() => { if (state.stream === "reconnected") { state.stream = "live"; repaintHeader(); } }, 8000);
    },
    onEvent: (type, event) => {
      if (type === "alarm") {
        arrivedDuringLoad?.push(event.alarm);
        upsertAlarm(event.alarm);
        repaintHeader();
        current?.onAlarm?.(event.alarm);
      }
      if (type === "health") current?.onHealth?.(event);
    },
  });
  paint();
}

async function signOut() {
  try { await post("/api/logout"); } catch { /* signed out either way */ }
  stop();
}

function stop() {
  if (closeStream) closeStream();
  closeStream = null;
  state.me = null;
  state.alarms = [];
  paint();
}

onSignedOut(() => { if (state.me) stop(); });
window.addEventListener("hashchange", () => { if (state.me) paint(); });
setInterval(() => current?.tick?.(), 1000);

get("/api/me").then(start, () => paint());
