// The collector's JSON API from the browser: the session rides in an HttpOnly cookie, writes echo the
// CSRF token. Every failure becomes an ApiError with a sentence for the person, never a stack trace.
import { t } from "./i18n.js";

let csrf = "";
const signedOut = new Set();

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
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
    const reason = payload && typeof payload.error === "string" ? payload.error : `${t("error.http")} ${response.status}`;
    throw new ApiError(response.status, reason);
  }
  return payload;
}

export const get = (path) => call("GET", path);
export const post = (path, body = {}) => call("POST", path, body);
