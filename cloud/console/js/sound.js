// The fire-alarm tone, synthesised (no audio file to fetch). Muting lasts for this browser session;
// the visual alert stays either way.
let context = null;

export const muted = () => sessionStorage.getItem("ff-muted") === "1";
export const setMuted = (on) => sessionStorage.setItem("ff-muted", on ? "1" : "0");
export const played = { count: 0 };  // read by the browser tests: the tone was asked for

export function fireTone() {
  if (muted()) return;
  played.count += 1;
  try {
    context = context || new AudioContext();
    const start = context.currentTime;
    for (let i = 0; i < 6; i += 1) {
      const osc = context.createOscillator();
      const gain = context.createGain();
      osc.frequency.value = i % 2 ? 660 : 990;
      gain.gain.setValueAtTime(0.2, start + i * 0.25);
      gain.gain.setValueAtTime(0, start + i * 0.25 + 0.22);
      osc.connect(gain).connect(context.destination);
      osc.start(start + i * 0.25);
      osc.stop(start + i * 0.25 + 0.23);
    }
  } catch { /* no audio device: the flashing row still shows it */ }
}
