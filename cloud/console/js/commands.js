// Commands to a gateway from the console (cut or restore a charging port, reset a latched alarm on
// site): a two-step confirmation, then the command's progress as the gateway reports it (executing,
// then done or failed with the gateway's reason).
import { get, post } from "./api.js";
import { h, replace } from "./dom.js";
import { partLabel, t } from "./i18n.js";

// The command's state as the gateway reports it, polled until it is done or failed (at most 30 s).
export async function waitFor(id, onState = () => {}) {
  let found = null;
  for (let i = 0; i < 60; i += 1) {
    found = await get(`/api/commands/${id}`);
    onState(found);
    if (found.state === "successful" || found.state === "failed") break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return found;
}

// `said`: the outcome of this control's last command, kept across a redraw of the page.
export function commandButton({ label, danger = false, command, tag, onDone = () => {}, said = "" }) {
  const status = h("span.muted", { role: "status" }, said);
  const button = h(danger ? "button.danger" : "button", { "data-command": tag, onclick: ask }, label);
  const wrap = h("span", { "data-command-box": tag }, button, " ", status);

  function ask() {
    const yes = h("button.danger", { "data-confirm": tag, onclick: send }, `${t("yes")}, ${label}`);
    replace(wrap, h("span", {}, t("command.confirm", { what: label })), " ", yes, " ",
      h("button", { onclick: () => replace(wrap, button, " ", status) }, t("no")), " ", status);
    yes.focus();
  }

  async function send() {
    replace(wrap, button, " ", status);
    button.disabled = true;
    replace(status, t("command.sent"));
    try {
      const cmd = await post("/api/commands", command);
      const found = await waitFor(cmd.id, (now) =>
        replace(status, `${t(`command.${now.state}`, {}, now.state)}${now.reason ? ` (${now.reason})` : ""}`));
      button.disabled = false;
      if (found?.state === "successful") onDone(status.textContent);
    } catch (err) {
      replace(status, err.message);
      button.disabled = false;
    }
  }
  return wrap;
}

export function relayControl({ site, gateway, device, point, on, onDone = () => {}, said = "" }) {
  const name = partLabel(point.replace(/\.?relay$/, "") || device);
  return commandButton({ label: `${on ? t("command.cut") : t("command.restore")} ${name}`, danger: on, tag: `${device}/${point}`,
    command: { site, gateway, action: "write", device, point, value: !on }, onDone: (text) => onDone(!on, text), said });
}

export function resetOnSite({ site, gateway, key }) {
  return commandButton({ label: t("command.reset"), tag: `reset/${key}`,
    command: { site, gateway, action: "acknowledge", key } });
}
