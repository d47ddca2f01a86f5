// The console's shell: sign-in, the header (pages, stream state, sound, language), the alarm queue
// kept live from the event stream on every page, and a hash router over the pages.
// A fire nobody has acknowledged cannot be missed on any page: a banner names its site with a link, and
// the tone sounds when it arrives and again every REPEAT_S until every fire is acknowledged (also right
// after the console is opened or reloaded); a browser that blocks sound gets a banner asking for a click.
import { get, onSignedOut, post, setCsrf } from "./api.js";
import { alarmTitle, h, replace } from "./dom.js";
import { lang, setLabels, setLang, t } from "./i18n.js";
import { REPEAT_S, blocked, enable, fireTone, played } from "./sound.js";
import { openStream } from "./stream.js";
import * as admin from "./page_admin.js";
import * as duty from "./page_duty.js";
import * as shift from "./page_shift.js";
import * as stats from "./page_stats.js";
import * as history from "./page_history.js";
import * as centre from "./page_centre.js";
import * as fleet from "./page_fleet.js";
import * as rollouts from "./page_rollouts.js";
import * as login from "./page_login.js";
import * as maintenance from "./page_maintenance.js";
import * as device from "./page_device.js";
import * as map from "./page_map.js";
import * as readiness from "./page_readiness.js";
import * as site from "./page_site.js";

const PAGES = { duty, history, stats, shift, map, maintenance, readiness, site, device, admin, centre, fleet, rollouts };
const NAV = ["duty", "history", "stats", "shift", "map", "maintenance", "fleet", "rollouts", "readiness", "centre", "admin"];
const NEEDS = { admin: "user.manage", rollouts: "fleet.rollout" };  // pages only some roles see
const HOME = { duty_officer: "duty", maintenance: "maintenance", district_viewer: "readiness", admin: "duty" };

const FLASH_MS = 3000;  // a new alarm's row flashes this long, whatever arrives after it
const state = { me: null, alarms: [], sites: {}, stream: "connecting", since: {}, checks: {} };
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

// Fires nobody has acknowledged yet: they ring, they have a banner, their rows stand out.
const unanswered = () => state.alarms.filter((a) => a.class === "fire" && a.handling === "raised");
let lastTone = -Infinity;

function ring({ arrived = false } = {}) {
  // a new fire sounds at once (unless a tone is still playing); an unanswered one every REPEAT_S
  const gap = arrived ? 1500 : REPEAT_S * 1000;
  if (!unanswered().length || performance.now() - lastTone < gap) return;
  if (fireTone()) lastTone = performance.now();
}

function header(active) {
  // every fire still burning or not yet answered, shelved or not: nothing may hide an unanswered fire
  const fires = state.alarms.filter((a) => a.class === "fire" && (a.condition === "active" || a.handling === "raised")).length;
  const silent = blocked();
  return h("header.top", {},
    h("span.brand", {}, "firefleet"),
    h("nav", { "aria-label": t("nav.label") },
      NAV.filter((name) => !NEEDS[name] || can(NEEDS[name]))
        .map((name) => h("a", { href: `#/${name}`, class: name === active ? "here" : "" }, t(`nav.${name}`)))),
    fires ? h("a.badge.fire", { href: "#/duty", id: "fire-count" }, `${t("class.fire")} ${fires}`) : null,
    h("span.spacer"),
    h(`span.stream.${state.stream}`, { id: "stream-state", role: "status" }, t(`stream.${state.stream}`)),
    silent ? h("button", { id: "sound-state", class: "blocked", onclick: enableSound }, t("sound.blocked"))
      : h("span", { id: "sound-state" }, t("sound.on")),
    h("button", { id: "lang-toggle", onclick: () => { setLang(lang() === "zh-CN" ? "en" : "zh-CN"); paint(); } },
      lang() === "zh-CN" ? "English" : "中文"),
    h("span", {}, `${state.me.user} · ${t(`role.${state.me.role}`)}`),
    h("button", { id: "sign-out", onclick: signOut }, t("sign_out")));
}

async function enableSound() {
  await enable();
  repaintHeader();
  ring({ arrived: true });
}

function banners() {
  const fires = unanswered();
  const siteName = (a) => state.sites[a.site]?.name || a.site;
  return h("div", { id: "banners" },
    state.stream === "reconnecting" ? h("div.banner.error", { id: "stream-banner" }, t("stream.lost")) : null,
    state.stream === "reconnected" ? h("div.banner", { id: "stream-banner" }, t("stream.back")) : null,
    fires.length ? h("div.banner.fire", { id: "fire-banner", role: "alert" },
      h("strong", {}, t("banner.fires", { n: fires.length })), " ",
      fires.slice(0, 4).map((a) => h("a", { href: `#/duty/${a.id}` }, `${siteName(a)} · ${alarmTitle(a)}`)),
      fires.length > 4 ? h("a", { href: "#/duty" }, t("banner.more", { n: fires.length - 4 })) : null) : null,
    fires.length && blocked() ? h("button.banner.sound", { id: "sound-banner", onclick: enableSound },
      t("sound.click_to_enable")) : null,
    dutyCheckBanner());
}

// A duty check (查岗) waiting for whoever is on duty: a banner with its countdown on every page; a missed
// one says so for a minute.
function dutyCheckBanner() {
  const nowS = Date.now() / 1000;
  const waiting = Object.values(state.checks).find((c) => c.state === "waiting" && c.due_at > nowS);
  if (waiting && can("duty.record")) {
    return h("div.banner.check", { id: "duty-check", role: "alertdialog" },
      h("strong", {}, t("check.asked")), " ",
      h("span", { id: "duty-check-left", "data-due": waiting.due_at }, t("check.left", { s: Math.ceil(waiting.due_at - nowS) })), " ",
      h("button.primary", { id: "duty-check-answer", onclick: () => answerCheck(waiting.id) }, t("check.answer")));
  }
  const missed = Object.values(state.checks).find((c) => c.state === "missed" && nowS - c.missed_at < 60);
  if (missed) return h("div.banner.error", { id: "duty-check-missed", role: "alert" }, t("check.missed_banner"), " ", checkSaid);
  return checkSaid ? h("div.banner", { id: "duty-check-said", role: "status" }, checkSaid) : null;
}
let checkSaid = "";

async function answerCheck(id) {
  try {
    const check = await post(`/api/duty-checks/${id}/answer`);
    state.checks[check.id] = check;
    checkSaid = "";
  } catch (error) {
    checkSaid = error.message;  // refused (too late, or answered by a colleague): said in the banner
    try { for (const c of await get("/api/duty-checks")) state.checks[c.id] = c; } catch { /* next event */ }
  }
  repaintHeader();
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
  replace(app, header(name), banners(), main);
  const page = PAGES[name].render({ state, params, navigate, can, main, flashAt });
  current = page;
  try {
    await page.load?.();
  } catch (error) {
    replace(main, h("p.error-box", { role: "alert" }, `${t("error.load")}: ${error.message}`));
  }
}

let paintedBlocked = null;

function repaintHeader() {
  const old = app.querySelector("header.top");
  if (!old) return;
  old.replaceWith(header(route().name));
  document.getElementById("banners")?.replaceWith(banners());
  paintedBlocked = blocked();
}

function upsertAlarm(alarm, { quiet = false } = {}) {
  const index = state.alarms.findIndex((a) => a.id === alarm.id);
  const isNew = index < 0;
  if (alarm.handling === "closed") { if (!isNew) state.alarms.splice(index, 1); }
  else if (isNew) state.alarms.push(alarm);
  else state.alarms[index] = alarm;
  state.alarms.sort(queueOrder);
  if (isNew && !quiet && alarm.handling !== "closed") {  // quiet: announced when its event first came
    state.since[alarm.id] = performance.now();
    if (alarm.class === "fire") ring({ arrived: true });
  }
}

// How far into its flash a new alarm's row is (null: not new): a redraw continues the flash, never restarts
// or cuts it.
function flashAt(id) {
  const age = performance.now() - (state.since[id] ?? -Infinity);
  return age < FLASH_MS ? age : null;
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
    const [alarms, sites, checks] = await Promise.all([get("/api/alarms"), get("/api/sites"), get("/api/duty-checks")]);
    state.checks = Object.fromEntries(checks.slice(0, 5).map((c) => [c.id, c]));
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
  try { setLabels(await get("/api/labels")); } catch { /* names with spaces until the next sign-in */ }
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
      if (type === "duty_check") {
        state.checks[event.check.id] = event.check;
        checkSaid = "";
        repaintHeader();
        current?.onCheck?.(event.check);
      }
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
setInterval(() => {
  current?.tick?.();
  if (!state.me) return;
  if (blocked() !== paintedBlocked) repaintHeader();  // the browser let sound through, or stopped it
  const left = document.getElementById("duty-check-left");
  if (left) {
    const s = Math.ceil(Number(left.dataset.due) - Date.now() / 1000);
    if (s > 0) left.textContent = t("check.left", { s });
    else repaintHeader();  // its time is up: the collector marks it missed and says so
  }
  ring();
}, 1000);

get("/api/me").then(start, () => paint());
