// The collector's event stream (server-sent events). The browser reconnects by itself after a network
// error; when the stream is closed for good (the collector answered with an error), we open a new one.
// Every (re)connection is reported so the page can say so and fetch what it may have missed.

export function openStream({ onEvent, onState, onReconnected, onClosed }) {
  let source = null;
  let everOpen = false;
  let retry = null;

  function connect() {
    onState(everOpen ? "reconnecting" : "connecting");
    source = new EventSource("/api/stream");
    source.addEventListener("open", () => {
      onState("live");
      if (everOpen) onReconnected();
      everOpen = true;
    });
    source.addEventListener("error", () => {
      onState(everOpen ? "reconnecting" : "connecting");
      if (source.readyState === EventSource.CLOSED && retry === null) {
        onClosed();  // refused (signed out?) or the collector is down: the caller finds out which
        retry = setTimeout(() => { retry = null; connect(); }, 3000);
      }
    });
    // another collector's changes may have been missed (its feed was down): fetch everything again
    source.addEventListener("resync", () => onReconnected());
    for (const type of ["alarm", "health", "duty_check"]) {
      source.addEventListener(type, (message) => {
        try { onEvent(type, JSON.parse(message.data)); } catch { /* garbage in the stream: dropped */ }
      });
    }
  }

  connect();
  return () => { clearTimeout(retry); if (source) source.close(); };
}
