// Sign-in. A refusal says why (wrong password, too many tries) and keeps what was typed.
import { ApiError, get, post } from "./api.js";
import { h, replace } from "./dom.js";
import { lang, setLang, t } from "./i18n.js";

export function render({ onSignedIn }) {
  const error = h("p.error-box", { role: "alert", id: "login-error" });
  const user = h("input", { name: "user", id: "login-user", autocomplete: "username", required: true });
  const password = h("input", { name: "password", id: "login-password", type: "password",
    autocomplete: "current-password", required: true });
  async function submit(event) {
    event.preventDefault();
    replace(error);
    try {
      await post("/api/login", { user: user.value.trim(), password: password.value });
      onSignedIn(await get("/api/me"));
    } catch (e) {
      replace(error, e instanceof ApiError && e.status === 401 ? t("login.refused") : e.message);
    }
  }
  const switchLang = () => {
    setLang(lang() === "zh-CN" ? "en" : "zh-CN");
    document.getElementById("app").replaceChildren(render({ onSignedIn }));
  };
  return h("div.login.panel", { id: "page-login" },
    h("h1", {}, t("login.title")),
    h("p.muted", {}, t("login.intro")),
    h("form", { onsubmit: submit },
      h("label", {}, t("login.user"), user),
      h("label", {}, t("login.password"), password),
      h("button.primary", { type: "submit", id: "login-submit" }, t("login.submit"))),
    error,
    h("p", {}, h("button", { id: "lang-toggle", type: "button", onclick: switchLang },
      lang() === "zh-CN" ? "English" : "中文")));
}
