// Building DOM nodes without a framework: h("tag.class", {attrs}, ...children). Text is always text
// (never parsed as HTML), so nothing from a device or a payload can inject markup.
import { lang, partLabel, pointUnit, t } from "./i18n.js";

export function h(spec, props = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = spec.startsWith("svg:") ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag || "div");
  if (classes.length) el.setAttribute("class", classes.join(" "));
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.setAttribute("class", [el.getAttribute("class"), value].filter(Boolean).join(" "));
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const pad = (n) => String(n).padStart(2, "0");

export function clock(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}${t("unit.s")}`;
  if (s < 3600) return `${Math.floor(s / 60)}${t("unit.min")} ${pad(s % 60)}${t("unit.s")}`;
  if (s < 86400) return `${Math.floor(s / 3600)}${t("unit.h")} ${pad(Math.floor((s % 3600) / 60))}${t("unit.min")}`;
  return `${Math.floor(s / 86400)}${t("unit.d")} ${Math.floor((s % 86400) / 3600)}${t("unit.h")}`;
}

export function value(v) {
  if (v === true) return t("yes");
  if (v === false) return t("no");
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (v === null || v === undefined) return "–";
  if (Array.isArray(v)) return v.map(value).join("、");  // ["sd1", "sd2"] -> sd1、sd2
  return typeof v === "object" ? Object.entries(v).map(([k, x]) => `${k.replace(/_/g, " ")}: ${value(x)}`).join(" · ") : String(v);
}

// A point's value with its unit from the profiles' labels ("71.5 °C").
export function withUnit(key, v) {
  if (typeof v === "string") return t(`state.${v}`, {}, v);  // an enumerated state: normal, alarm, idle...
  const unit = typeof v === "number" ? pointUnit(key) : "";
  return unit ? `${value(v)} ${unit}` : value(v);
}

export const now = () => Date.now() / 1000;
// A device's state: online, offline, or unknown while its gateway is unreachable (null).
export const onlineBadge = (online) => online === null || online === undefined
  ? h("span.badge.unknown", {}, t("flag.unknown"))
  : h(`span.badge.${online ? "ok" : "offline"}`, {}, t(online ? "health.online" : "flag.offline"));
export const badge = (cls) => h(`span.badge.${cls || "unknown"}`, {}, t(`class.${cls || "unknown"}`));
export const compare = (a, b) => String(a).localeCompare(String(b), lang());

// What an alarm is, in words: the profile's own text, else the rule's name, with the port or part.
export function alarmTitle(a) {
  if (a.text) return a.text;
  const part = a.key.split("/").slice(2).join("/");
  return `${t(`rule.${a.rule}`, {}, a.rule || a.key)}${part ? ` · ${part.split("/").map(partLabel).join(" ")}` : ""}`;
}

// At most one call per `ms`, the last one always made: a district's worth of events must not turn into
// a district's worth of page reloads.
export function throttle(fn, ms) {
  let timer = null, due = false, last = 0;
  return () => {
    const wait = last + ms - Date.now();
    if (wait <= 0 && !timer) { last = Date.now(); fn(); return; }
    due = true;
    if (!timer) timer = setTimeout(() => { timer = null; if (due) { due = false; last = Date.now(); fn(); } }, Math.max(wait, 0));
  };
}
