// Line charts over time, drawn by uPlot (vendored under /static/vendor, loaded before this module runs).
// Series may have gaps (null); every series is drawn with its own colour and named in the legend.
import { h } from "./dom.js";

const COLOURS = ["#1f5fbf", "#c62828", "#2e7d32", "#d9731a", "#7b3fb8", "#00838f", "#6d4c41", "#ad1457", "#558b2f",
  "#3949ab", "#f9a825", "#5d6677"];

export function lineChart({ title, times, series, width, height = 220, unit = "", xRange, yRange }) {
  const el = h("div.chart", { "data-chart": title });
  if (!window.uPlot || !times.length) return el;
  const opts = {
    title, width: Math.max(280, width), height,
    scales: { x: xRange ? { time: true, range: xRange } : { time: true }, y: yRange ? { range: yRange } : {} },
    axes: [{}, { label: unit, size: 56 }],
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: true }))],
  };
  new window.uPlot(opts, [times, ...series.map((s) => s.values)], el);
  return el;
}

// Readings carry only what changed: carry each value forward so every series has a point at every time.
export function carryForward(readings, keys) {
  const last = {};
  const times = [];
  const columns = keys.map(() => []);
  for (const r of readings) {
    Object.assign(last, r.values);
    times.push(r.t);
    keys.forEach((k, i) => columns[i].push(typeof last[k] === "number" ? last[k] : null));
  }
  return { times, columns };
}
