// The fire-alarm tone, synthesised (no audio file to fetch): 1.5 s, two pitches. The console sounds it for
// a new fire and again every REPEAT_S while any fire is unanswered (main.js); there is no mute for the
// whole console: an alarm is silenced on its own, and only once someone has acknowledged it.
// A browser may refuse sound until the page has been clicked (autoplay policy): `blocked()` says so, and
// the console then shows a banner asking for the one click that `enable()` needs.
export const REPEAT_S = 5;
export const played = { count: 0 };  // read by the browser tests: tones actually started

let context = null;

function audio() {
  try {
    context = context || new AudioContext();
  } catch { context = null; }  // no audio at all: the banner and the marked rows still show it
  return context;
}

export const blocked = () => audio()?.state === "suspended";

export async function enable() {
  try { await audio()?.resume(); } catch { /* refused again: the banner stays */ }
}

// Returns whether it sounded.
export function fireTone() {
  const ctx = audio();
  if (!ctx || ctx.state !== "running") return false;
  played.count += 1;
  const start = ctx.currentTime;
  for (let i = 0; i < 6; i += 1) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = i % 2 ? 660 : 990;
    gain.gain.setValueAtTime(0.2, start + i * 0.25);
    gain.gain.setValueAtTime(0, start + i * 0.25 + 0.22);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start + i * 0.25);
    osc.stop(start + i * 0.25 + 0.23);
  }
  return true;
}
