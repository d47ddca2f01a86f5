// The collector's JSON API from the browser: the session rides in an HttpOnly cookie, writes echo the
// CSRF token. Every failure becomes an ApiError with a sentence for the person, never a stack trace: the
// collector names each refusal with a code, worded here in the reader's language (its English reason
// when the console has no words for that code yet).
import { t } from "./i18n.js";

let csrf = "";
const signedOut = new Set();

export class ApiError extends Error {
  constructor(status, message, code = "") { super(message); this.status = status; this.code = code; }
}

// A refusal ({error, code, params}) in the reader's language; the parameters that are our own words
// (a handling state, an action) worded too.
const WORDED = { handling: "handling", action: "action" };
export function refusalText({ error, code, params = {} }) {
  const words = Object.fromEntries(Object.entries(params || {}).map(([k, v]) => [k, WORDED[k] ? t(`${WORDED[k]}.${v}`, {}, v) : v]));
  return code ? t(`error.${code}`, words, error) : error;
}

export const onSignedOut = (fn) => signedOut.add(fn);
export const setCsrf = (token) => { csrf = token || ""; };

async function call(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method, credentials: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, t("error.unreachable"));
  }
  let payload = null;
  try { payload = await response.json(); } catch { payload = null; }
  if (response.status === 401 && path !== "/api/login") signedOut.forEach((fn) => fn());
  if (!response.ok) {
    const english = payload && typeof payload.error === "string" ? payload.error : `${t("error.http")} ${response.status}`;
    const code = payload && typeof payload.code === "string" ? payload.code : "";
    throw new ApiError(response.status, refusalText({ error: english, code, params: payload?.params }), code);
  }
  return payload;
}

// A file as the body itself (a floor plan), with the CSRF token like every write.
export async function upload(path, file) {
  let response;
  try {
    response = await fetch(path, { method: "POST", credentials: "same-origin", body: file,
      headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRF-Token": csrf } });
  } catch {
    throw new ApiError(0, t("error.unreachable"));
  }
  let payload = null;
  try { payload = await response.json(); } catch { payload = null; }
  if (!response.ok) {
    const english = typeof payload?.error === "string" ? payload.error : `${t("error.http")} ${response.status}`;
    throw new ApiError(response.status, refusalText({ error: english, code: payload?.code || "", params: payload?.params }), payload?.code || "");
  }
  return payload;
}

export const get = (path) => call("GET", path);
export const post = (path, body = {}) => call("POST", path, body);
