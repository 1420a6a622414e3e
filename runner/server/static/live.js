// The live feed: Server-Sent Events from /api/media/events; when the stream fails, a
// 10-second refresh of the current view until it is back.

const listeners = new Set();
const refreshers = new Set();
let source = null;
let pollTimer = null;
export const POLL_MS = 10000;

function status(text, mode) {
  const el = document.getElementById("live");
  el.textContent = text;
  el.className = `live ${mode}`;
}

function startPolling() {
  if (pollTimer) return;
  status("polling every 10 s", "poll");
  pollTimer = setInterval(() => refreshers.forEach((fn) => fn()), POLL_MS);
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}

export function connect() {
  if (!("EventSource" in window)) { startPolling(); return; }
  source = new EventSource("/api/media/events");
  source.addEventListener("open", () => { stopPolling(); status("live", "on"); });
  source.addEventListener("error", () => { startPolling(); });
  for (const kind of ["job", "attempt", "event", "artifact", "run"]) {
    source.addEventListener(kind, (e) => {
      let data;
      try { data = JSON.parse(e.data); } catch { return; }
      listeners.forEach((fn) => fn(kind, data));
    });
  }
  source.addEventListener("resync", () => refreshers.forEach((fn) => fn()));
}

// A view subscribes while it is shown; the returned function unsubscribes.
export function subscribe(onMessage, onRefresh) {
  listeners.add(onMessage);
  if (onRefresh) refreshers.add(onRefresh);
  return () => { listeners.delete(onMessage); if (onRefresh) refreshers.delete(onRefresh); };
}
