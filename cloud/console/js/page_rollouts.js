// Rollouts (admins): a configuration set (profile files and/or a site file), or a new agent version (a
// wheel), for one gateway, a street, a site kind or every gateway; the canary first, then batches; stopped automatically when more gateways
// fail than allowed. Each rollout is a bar of its gateways (done, failed, under way, waiting) and, opened,
// a row per gateway with its step and what it said. Refreshed every 2 s while the page is open.
import { get, post, upload } from "./api.js";
import { clock, h, replace } from "./dom.js";
import { t } from "./i18n.js";

const TARGETS = ["gateway", "street", "kind", "all"];
const UNDER_WAY = ["init", "prepare", "apply", "verify", "executing"];
const FAILED = ["failed", "refused", "rolled_back"];

const stepWord = (state) => t(`rollout.step.${state || "queued"}`, {}, state);

export function render({ main, params }) {
  let open = params[0] ? Number(params[0]) : null;
  const list = h("div", { id: "rollout-list" });
  const detail = h("div", { id: "rollout-detail" });
  const said = h("p", { id: "rollout-said", role: "status" });
  replace(main, h("h1", {}, t("rollout.title")), form(), said, list, detail);

  function form() {
    const kind = h("select", { id: "rollout-target-kind", "aria-label": t("rollout.target") },
      TARGETS.map((k) => h("option", { value: k }, t(`rollout.target.${k}`))));
    const value = h("input", { id: "rollout-target", placeholder: t("rollout.target_value"), "aria-label": t("rollout.target_value") });
    kind.addEventListener("change", () => { value.disabled = kind.value === "all"; });
    const profiles = h("input", { type: "file", id: "rollout-profiles", multiple: true, accept: ".yaml" });
    const site = h("input", { type: "file", id: "rollout-site", accept: ".yaml" });
    // the site file as text, to change a threshold (a rule's `for`, a point's limit) before it is sent
    const siteText = h("textarea.site-text", { id: "rollout-site-text", rows: 12, spellcheck: "false", hidden: true,
      "aria-label": t("rollout.site_text") });
    site.addEventListener("change", async () => {
      siteText.value = site.files[0] ? await site.files[0].text() : "";
      siteText.hidden = !site.files[0];
    });
    const canary = h("input", { type: "number", id: "rollout-canary", min: 0, max: 100, value: 10 });
    const canaryGateways = h("input", { id: "rollout-canary-gateways", placeholder: t("rollout.canary_gateways") });
    const failures = h("input", { type: "number", id: "rollout-failures", min: 0, value: 0 });
    const verify = h("input", { type: "number", id: "rollout-verify", min: 5, max: 3600, value: 120 });
    const wheel = h("input", { type: "file", id: "rollout-wheel", accept: ".whl" });
    const label = (text, input) => h("label", {}, text, " ", input);
    async function submit(e) {
      e.preventDefault();
      replace(said, "");
      const files = {};
      for (const file of profiles.files) files[file.name] = await file.text();
      const body = { target: { [kind.value]: kind.value === "all" ? true : value.value.trim() }, profiles: files,
        site: siteText.hidden ? "" : siteText.value, canary_share: Number(canary.value) / 100,
        max_failures: Number(failures.value), verify_s: Number(verify.value),
        canary: canaryGateways.value.split(/[,\s]+/).filter(Boolean) };
      try {
        if (wheel.files[0]) {  // an agent version: the wheel uploaded first, then rolled out by its SHA-256
          const pkg = await upload("/api/packages", wheel.files[0]);
          Object.assign(body, { action: "update", package: pkg.sha256, healthy_s: Number(verify.value) });
        }
        const made = await post("/api/rollouts", body);
        open = made.id;
        replace(said, t("rollout.created", { id: made.id, n: made.gateways.length }));
        await load();
      } catch (err) { replace(said, h("span.error", { role: "alert" }, err.message)); }
    }
    return h("form.rollout-form", { id: "rollout-form", onsubmit: submit },
      h("fieldset", {}, h("legend", {}, t("rollout.new")),
        label(t("rollout.target"), kind), value,
        label(t("rollout.profiles"), profiles), label(t("rollout.site"), site), label(t("rollout.wheel"), wheel),
        label(t("rollout.canary"), canary), label(t("rollout.canary_gateways_label"), canaryGateways),
        label(t("rollout.max_failures"), failures), label(t("rollout.verify_s"), verify),
        h("button.primary", { type: "submit", id: "rollout-start" }, t("rollout.start")), siteText));
  }

  // one bar per rollout: successful, failed, under way and waiting gateways, in proportion
  function bar(counts, total) {
    const parts = [["ok", counts.ok], ["failed", counts.failed], ["busy", counts.busy], ["waiting", counts.waiting]];
    return h("div.rollout-bar", { role: "img", "aria-label": t("rollout.bar", { ...counts, total }) },
      parts.filter(([, n]) => n).map(([cls, n]) => h(`span.${cls}`, { style: `flex: ${n}`, title: `${t(`rollout.count.${cls}`)} ${n}` })));
  }

  function tally(gateways) {
    const c = { ok: 0, failed: 0, busy: 0, waiting: 0 };
    for (const g of gateways) {
      if (g.state === "successful") c.ok += 1;
      else if (FAILED.includes(g.state)) c.failed += 1;
      else if (UNDER_WAY.includes(g.state)) c.busy += 1;
      else c.waiting += 1;
    }
    return c;
  }

  async function load() {
    const rollouts = await get("/api/rollouts");
    replace(list, rollouts.length ? h("table.compact", {}, h("thead", {}, h("tr", {}, ["rollout.id", "rollout.when", "rollout.who",
      "rollout.what", "rollout.target", "rollout.state", "rollout.progress"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rollouts.map((r) => h("tr", { "data-rollout": r.id, class: r.id === open ? "here" : "" },
      h("td", {}, h("button.link", { onclick: () => { open = r.id; load(); } }, `#${r.id}`)), h("td", {}, clock(r.created)),
      h("td", {}, r.who), h("td", {}, r.description), h("td", {}, targetText(r.targets)),
      h("td", { class: r.state === "stopped" ? "warn" : "" }, t(`rollout.state.${r.state}`, {}, r.state)),
      h("td", {}, t("rollout.tally", { ok: r.successful, failed: r.failed, total: r.gateways })))))) : h("p.muted", {}, t("rollout.none")));
    if (open) await drawDetail(open);
  }

  async function drawDetail(id) {
    const r = await get(`/api/rollouts/${id}`);
    const counts = tally(r.gateways);
    const stopButton = r.state === "running" ? h("button", { id: "rollout-stop", onclick: async () => {
      const reason = window.prompt(t("rollout.stop_reason")) || "";
      try { await post(`/api/rollouts/${id}/stop`, { reason }); await load(); } catch (err) { replace(said, err.message); }
    } }, t("rollout.stop")) : null;
    replace(detail, h("h2", {}, t("rollout.detail", { id })),
      h("p", { id: "rollout-state" }, t(`rollout.state.${r.state}`, {}, r.state), r.reason ? ` · ${r.reason}` : "", " ", stopButton),
      bar(counts, r.gateways.length),
      h("table.compact", { id: "rollout-gateways" }, h("thead", {}, h("tr", {}, ["rollout.stage", "fleet.gateway", "col.site",
        "rollout.step", "rollout.reason", "rollout.updated"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, r.gateways.map((g) => h("tr", { "data-gateway": g.gateway, "data-state": g.state || "queued",
        class: FAILED.includes(g.state) ? "warn" : "" },
        h("td", {}, g.stage === 0 ? t("rollout.canary_stage") : t("rollout.batch", { n: g.stage })), h("td", {}, g.gateway),
        h("td", {}, g.site), h("td", {}, stepWord(g.state), g.state === "init" && !g.online ? ` (${t("rollout.offline")})` : ""),
        h("td", {}, g.reason || ""), h("td", {}, g.updated ? clock(g.updated) : "–"))))));
  }

  function targetText(target) {
    const [kind, value] = Object.entries(target || {})[0] || ["all", true];
    return kind === "all" ? t("rollout.target.all") : `${t(`rollout.target.${kind}`)} ${value}`;
  }

  load().catch((err) => replace(list, h("p.error-box", { role: "alert" }, err.message)));
  const timer = setInterval(() => load().catch(() => {}), 2000);
  return { load, dispose: () => clearInterval(timer) };
}
