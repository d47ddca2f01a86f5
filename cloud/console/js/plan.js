// A floor plan with its devices on it: each a dot at its place, coloured by its state; one highlighted (the
// alarming device on its alarm's page). An admin edits it: a device from the tray is placed with a click on
// the plan, a placed one is dragged to where it is, and the positions are saved together.
import { post } from "./api.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

// states: device id -> "alarm" | "fault" | "offline" | "ok"
export function planView({ plan, devices = [], states = {}, highlight = null, editable = false, onSaved = () => {},
  src = `/api/plans/${plan.id}/image` }) {
  const positions = { ...plan.positions };
  let picked = null;  // a device from the tray, waiting for its place
  let dirty = false;
  const board = h("div.plan-board", { "data-plan": plan.id, style: `aspect-ratio: ${plan.width} / ${plan.height}` },
    h("img", { src, alt: plan.name, draggable: "false" }));
  const tray = h("div.plan-tray", { id: `plan-tray-${plan.id}` });
  const said = h("span.muted", { role: "status" });
  const wrap = h("div.plan", {}, board, editable ? h("div.actions", {}, tray,
    h("button.primary", { "data-save-plan": plan.id, onclick: save }, t("plan.save")), said) : null);

  function at(event) {
    const box = board.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return { x: clamp((event.clientX - box.left) / box.width), y: clamp((event.clientY - box.top) / box.height) };
  }

  function draw() {
    for (const dot of board.querySelectorAll(".plan-dot")) dot.remove();
    for (const [device, p] of Object.entries(positions)) {
      const dot = h("span.plan-dot", { "data-device": device, title: device, tabindex: 0,
        class: [states[device] || "ok", device === highlight ? "highlight" : ""].join(" "),
        style: `left:${100 * p.x}%;top:${100 * p.y}%` }, h("span.plan-label", {}, device));
      if (editable) dot.addEventListener("pointerdown", (e) => drag(e, device, dot));
      board.append(dot);
    }
    if (editable) {
      const unplaced = devices.filter((d) => !positions[d.id]);
      replace(tray, unplaced.length ? [h("span.muted", {}, t("plan.tray")), unplaced.map((d) => h("button", {
        "data-place": d.id, class: picked === d.id ? "primary" : null,
        onclick: () => { picked = d.id; draw(); } }, d.name || d.id))] : h("span.muted", {}, t("plan.all_placed")));
    }
  }

  function drag(event, device, dot) {
    event.preventDefault();
    dot.setPointerCapture(event.pointerId);
    const move = (e) => { const p = at(e); dot.style.left = `${100 * p.x}%`; dot.style.top = `${100 * p.y}%`; };
    const up = (e) => {
      dot.removeEventListener("pointermove", move);
      dot.removeEventListener("pointerup", up);
      positions[device] = at(e);
      dirty = true;
      replace(said, t("plan.unsaved"));
    };
    dot.addEventListener("pointermove", move);
    dot.addEventListener("pointerup", up);
  }

  if (editable) {
    board.addEventListener("click", (e) => {
      if (!picked || e.target.closest(".plan-dot")) return;
      positions[picked] = at(e);
      picked = null;
      dirty = true;
      replace(said, t("plan.unsaved"));
      draw();
    });
  }

  async function save() {
    try {
      const saved = await post(`/api/plans/${plan.id}/positions`, { positions });
      Object.assign(plan.positions, saved.positions);
      dirty = false;
      replace(said, t("plan.saved"));
      onSaved(saved);
    } catch (error) { replace(said, error.message); }
  }

  draw();
  wrap.unsaved = () => dirty;
  return wrap;
}
