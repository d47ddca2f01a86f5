// The admin's page: users (create, change role, set a new password, disable and enable again) and the
// audit trail with filters. The collector refuses what would lock the district out (the last admin, one's
// own account) and says why; every change is in the trail below at once.
import { get, post } from "./api.js";
import { clock, h, replace } from "./dom.js";
import { t } from "./i18n.js";

const ROLES = ["duty_officer", "maintenance", "district_viewer", "admin"];

export function render({ state, main }) {
  const message = h("p.error-box", { role: "alert", id: "admin-error" });
  const done = h("p.muted", { role: "status", id: "admin-done" });
  const userBox = h("div", { id: "users" });
  const auditBox = h("div", { id: "audit" });
  const filters = { who: h("input", { name: "who", placeholder: t("admin.who"), "aria-label": t("admin.who") }),
    action: h("input", { name: "action", placeholder: t("admin.action"), "aria-label": t("admin.action") }),
    text: h("input", { name: "text", placeholder: t("admin.text"), "aria-label": t("admin.text") }),
    since: h("input", { name: "since", type: "date", "aria-label": t("admin.since") }),
    until: h("input", { name: "until", type: "date", "aria-label": t("admin.until") }) };
  const name = h("input", { id: "new-user-name", required: true, pattern: "[\\w.@-]{1,64}", "aria-label": t("admin.name"),
    placeholder: t("admin.name") });
  const password = h("input", { id: "new-user-password", type: "password", minlength: 8, required: true,
    "aria-label": t("login.password"), placeholder: t("login.password") });
  const role = roleSelect("new-user-role", "duty_officer");

  replace(main, h("h1", {}, t("admin.title")), message, done,
    h("section.panel", {}, h("h2", {}, t("admin.users")),
      h("form.inline", { id: "new-user", onsubmit: (e) => { e.preventDefault(); create(); } },
        h("strong", {}, t("admin.create")), name, password, role,
        h("div.actions", {}, h("button.primary", { type: "submit", id: "new-user-submit" }, t("admin.create")))),
      userBox),
    h("section.panel", { style: "margin-top:10px" }, h("h2", {}, t("admin.audit")),
      h("form.filters", { id: "audit-filters", onsubmit: (e) => { e.preventDefault(); loadAudit().catch(show); } },
        Object.values(filters), h("button", { type: "submit", id: "audit-search" }, t("admin.search"))),
      auditBox));

  function show(error) { replace(message, error.message); }
  function said(text) { replace(message); replace(done, text); }

  async function change(path, body, text) {
    try {
      await post(path, body);
      said(text);
      await load();
    } catch (error) { show(error); }
  }

  async function create() {
    await change("/api/users", { name: name.value.trim(), password: password.value, role: role.value },
      t("admin.created", { name: name.value.trim() }));
    password.value = "";
  }

  function roleSelect(id, value) {
    return h("select", { id, "aria-label": t("admin.role") },
      ROLES.map((r) => h("option", { value: r, selected: r === value }, t(`role.${r}`))));
  }

  function drawUsers(users) {
    replace(userBox, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("admin.name")), h("th", {}, t("admin.role")),
      h("th", {}, t("col.status")), h("th", {}, t("admin.password")), h("th", {}, ""))),
    h("tbody", {}, users.map((u) => {
      const select = roleSelect(`role-${u.name}`, u.role);
      const fresh = h("input", { type: "password", minlength: 8, placeholder: t("admin.new_password"),
        "aria-label": t("admin.new_password"), "data-password": u.name });
      return h("tr", { "data-user": u.name, class: u.disabled ? "disabled" : null },
        h("td", {}, u.name, u.name === state.me.user ? h("span.muted", {}, ` (${t("admin.you")})`) : null),
        h("td", {}, select, " ", h("button", { "data-save-role": u.name, onclick: () => change(`/api/users/${encodeURIComponent(u.name)}`,
          { role: select.value }, t("admin.role_saved", { name: u.name })) }, t("admin.save"))),
        h("td", {}, u.disabled ? t("admin.disabled") : t("admin.active")),
        h("td", {}, fresh, " ", h("button", { "data-reset": u.name, onclick: () => {
          if (fresh.value.length >= 8) change(`/api/users/${encodeURIComponent(u.name)}`, { password: fresh.value }, t("admin.password_set", { name: u.name }));
          else replace(message, t("admin.password_short"));
        } }, t("admin.set_password"))),
        h("td", {}, u.disabled
          ? h("button", { "data-enable": u.name, onclick: () => change(`/api/users/${encodeURIComponent(u.name)}/enable`, {},
            t("admin.enabled", { name: u.name })) }, t("admin.enable"))
          : h("button.danger", { "data-disable": u.name, onclick: () => change(`/api/users/${encodeURIComponent(u.name)}/disable`, {},
            t("admin.was_disabled", { name: u.name })) }, t("admin.disable"))));
    }))));
  }

  async function loadAudit() {
    const query = new URLSearchParams();
    for (const key of ["who", "action", "text"]) if (filters[key].value.trim()) query.set(key, filters[key].value.trim());
    const day = (input, end) => (input.value ? new Date(`${input.value}T00:00:00`).getTime() / 1000 + (end ? 86400 : 0) : null);
    if (day(filters.since)) query.set("since", day(filters.since));
    if (day(filters.until, true)) query.set("until", day(filters.until, true));
    const rows = await get(`/api/audit?${query}`);
    replace(auditBox, rows.length ? h("table", { id: "audit-table" }, h("thead", {}, h("tr", {}, h("th", {}, t("admin.at")),
      h("th", {}, t("admin.who")), h("th", {}, t("admin.action")), h("th", {}, t("admin.target")), h("th", {}, t("admin.details")))),
    h("tbody", {}, rows.map((e) => h("tr", { "data-audit": e.id }, h("td", {}, clock(e.at)), h("td", {}, e.who),
      h("td", {}, t(`audit.${e.action}`, {}, e.action)), h("td", {}, e.target), h("td.muted", {}, details(e.details))))))
      : h("p.muted", {}, t("admin.no_audit")));
  }

  async function load() {
    drawUsers(await get("/api/users"));
    await loadAudit();
  }
  return { load };
}

// An audit entry's details in words: known keys and values from the dictionary (a role, a result, an
// action), times as times, anything else with spaces for underscores.
function details(text) {
  let parsed;
  try { parsed = JSON.parse(text || "{}"); } catch { return text; }
  const word = (v) => {
    if (v === null || v === undefined) return "–";
    if (Array.isArray(v)) return v.map(word).join("、");
    if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${t(`detail.${k}`, {}, k.replace(/_/g, " "))}: ${word(x)}`).join("，");
    if (typeof v !== "string") return String(v);
    for (const space of ["role", "result", "action", "handling", "mute"]) {
      const found = t(`${space}.${v}`, {}, "");
      if (found) return found;
    }
    return v.replace(/_/g, " ");
  };
  return Object.entries(parsed).map(([k, v]) => `${t(`detail.${k}`, {}, k.replace(/_/g, " "))}: ${/_at$/.test(k) && typeof v === "number" ? clock(v) : word(v)}`).join(" · ");
}
