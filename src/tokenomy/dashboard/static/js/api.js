// Talking to the analytics API: the key (when the server asks for one), readable errors
// (never a stack trace), CSV/JSON downloads, and the live event stream.

const KEY_STORE = "tokenomy.key";

export class ApiError extends Error {
  constructor(message, status = 0, param = null) {
    super(message);
    this.status = status;
    this.param = param;
  }
}

function storedKey() {
  try { return localStorage.getItem(KEY_STORE) || ""; } catch (e) { return ""; }
}

export function saveKey(key) {
  try { localStorage.setItem(KEY_STORE, key); } catch (e) { /* private mode: this page only */ }
  sessionKey = key;
}

let sessionKey = storedKey();
let keyPrompt = null; // set by main.js: asks the user for a key, resolves when given

export function onKeyNeeded(prompt) { keyPrompt = prompt; }

function headers() {
  return sessionKey ? { Authorization: `Bearer ${sessionKey}` } : {};
}

async function request(path) {
  let resp;
  try {
    resp = await fetch(path, { headers: headers() });
  } catch (e) {
    throw new ApiError("The Tokenomy server did not answer. Is `tokenomy serve` or " +
      "`tokenomy ui` still running?");
  }
  if (resp.status === 401 && keyPrompt) {
    // Ask for a key (again, with the server's reason, if the one given was refused).
    const message = await errorMessage(resp);
    await keyPrompt(sessionKey ? message : "");
    return request(path);
  }
  if (!resp.ok) throw new ApiError(await errorMessage(resp), resp.status);
  return resp;
}

async function errorMessage(resp) {
  try {
    const body = await resp.json();
    const err = body && body.error;
    if (err && err.message) return err.message;
  } catch (e) { /* not JSON: fall through to the status */ }
  return `The server answered ${resp.status} ${resp.statusText}`.trim();
}

export async function getJson(path, params) {
  const url = params ? `${path}?${params}` : path;
  const resp = await request(url);
  return resp.json();
}

export const api = (endpoint, params) => getJson(`/api/v1/${endpoint}`, params);

// Download an endpoint's answer as a file (the key travels in a header, so not a plain link).
export async function download(endpoint, params, format, name) {
  const q = new URLSearchParams(params);
  q.set("format", format);
  const resp = await request(`/api/v1/${endpoint}?${q}`);
  const blob = await resp.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${name}.${format}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// Server-sent events read with fetch (EventSource cannot send the key). Calls onTick for
// every `tick` event and reconnects when the server ends the stream; returns a stop().
export function subscribe(params, onTick, onStatus) {
  let stopped = false;
  let controller = null;
  async function loop() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const resp = await fetch(`/api/v1/live?${params}`, { headers: headers(),
          signal: controller.signal });
        if (!resp.ok) throw new ApiError(await errorMessage(resp), resp.status);
        onStatus(true);
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const event = parseEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (event.type === "tick") onTick(JSON.parse(event.data));
          }
        }
      } catch (e) {
        if (stopped) return;
        onStatus(false, e.message);
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  }
  loop();
  return () => { stopped = true; if (controller) controller.abort(); };
}

function parseEvent(text) {
  const event = { type: "message", data: "" };
  for (const line of text.split("\n")) {
    if (line.startsWith("event:")) event.type = line.slice(6).trim();
    else if (line.startsWith("data:")) event.data += line.slice(5).trim();
  }
  return event;
}
