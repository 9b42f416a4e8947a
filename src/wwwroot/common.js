// What the customer page (app.js) and the staff page (staff.js) share: building elements, money and
// time, the API with its bearer token (refreshed once on a 401), problem details, signing in with
// the second factor, and following a Server-Sent Events stream with fetch, so the token travels in
// the Authorization header and never in a URL. No framework, no build step.

export const $ = (id) => document.getElementById(id);

/** Builds an element. Text only ever goes in through textContent/append, so API data is never parsed as HTML. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child != null) node.append(child); // strings become text nodes
  return node;
}

// ---------- money and time ----------

const exponents = new Map();
/** Formats integer minor units; the exponent comes from ICU's currency data (GBP 2, JPY 0, KWD 3). */
export function money(minor, currency) {
  if (minor == null || !currency) return '–';
  try {
    if (!exponents.has(currency)) {
      exponents.set(currency, new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits);
    }
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / 10 ** exponents.get(currency));
  } catch {
    return `${minor} ${currency} (minor units)`; // unknown currency code: show the raw amount rather than fail
  }
}

const wallClock = new Intl.DateTimeFormat(undefined, {
  timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
});
/**
 * The show's local wall-clock time, taken from the digits of local_starts_at (which already carry the
 * venue's offset) rather than converted to the visitor's zone: a 21:55 departure in Honolulu reads 21:55.
 */
export function localTime(localStartsAt, timeZone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(localStartsAt ?? '');
  if (!m) return localStartsAt ?? '';
  const asUtc = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5])); // format those digits as-is
  return `${wallClock.format(asUtc)} (${timeZone})`;
}

export const clock = (iso) => new Date(iso ?? Date.now()).toLocaleTimeString(undefined, { hour12: false });

// ---------- account ----------

const AUTH_KEY = 'holdfast.auth';
const listeners = new Set();
/** The signed-in account: { token, expires_at, refresh_token, refresh_expires_at, email, role, user_id }, or null. */
export let auth = JSON.parse(sessionStorage.getItem(AUTH_KEY) || 'null');
if (auth && !(Date.parse(auth.refresh_expires_at ?? auth.expires_at) > Date.now())) auth = null; // nothing left to refresh with

/** Calls fn(auth) whenever the account changes (sign in, refresh, sign out). */
export function onAuthChange(fn) { listeners.add(fn); }

export function setAuth(value) {
  auth = value;
  if (value) sessionStorage.setItem(AUTH_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(AUTH_KEY);
  for (const fn of listeners) fn(auth);
}

/** The stored form of a token pair (POST /auth/login, /auth/login/2fa, /auth/external/token, /auth/refresh). */
export function fromTokens(res, email) {
  return {
    token: res.access_token, expires_at: res.expires_at, refresh_token: res.refresh_token, refresh_expires_at: res.refresh_expires_at,
    email, role: res.role, user_id: res.user_id,
  };
}

let refreshing = null;
/** Trades the refresh token for a new pair (once, however many calls hit a 401 together); false when that fails. */
async function refresh() {
  if (!auth?.refresh_token) return false;
  refreshing ??= (async () => {
    try {
      const res = await fetch('/auth/refresh', {
        method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify({ refresh_token: auth.refresh_token }),
      });
      if (!res.ok) { setAuth(null); return false; }
      setAuth(fromTokens(await res.json(), auth.email));
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Signs out: the session ends on the server (its access tokens stop working at once), then here. */
export async function signOut() {
  if (auth) { try { await api('POST', '/auth/logout', { refresh_token: auth.refresh_token }); } catch { /* signed out here anyway */ } }
  setAuth(null);
}

// ---------- API ----------

/** An RFC 9457 problem (or a synthesised one for network/non-JSON failures). */
export class Problem extends Error {
  constructor(status, body) {
    super(body.title || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Sends a request with the bearer token; a 401 refreshes the token once and retries. Returns parsed JSON (or null). */
export async function api(method, path, body, extraHeaders = {}) {
  const res = await send(method, path, body, extraHeaders, 'application/json');
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* e.g. a proxy's HTML error page */ }
  if (!res.ok) {
    throw new Problem(res.status, data && typeof data === 'object' ? data : { title: `${res.status} ${res.statusText}`, detail: text.slice(0, 200) });
  }
  return data;
}

/** Like api, for a binary answer (a QR code): returns a Blob. */
export async function apiBlob(path) {
  const res = await send('GET', path, undefined, {}, '*/*');
  if (!res.ok) throw new Problem(res.status, { title: `${res.status} ${res.statusText}` });
  return res.blob();
}

async function send(method, path, body, extraHeaders, accept, retried = false) {
  const headers = { Accept: accept, ...extraHeaders };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth) headers.Authorization = `Bearer ${auth.token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Problem(0, { title: 'Network error', detail: String(e.message ?? e) });
  }
  if (res.status === 401 && auth && !retried && await refresh()) return send(method, path, body, extraHeaders, accept, true);
  if (res.status === 401 && auth) setAuth(null); // the session is over (signed out elsewhere, or revoked)
  return res;
}

/** Shows a problem's title, detail and per-field errors in target (or clears it when err is null). */
export function showProblem(target, err) {
  target.replaceChildren();
  if (!err) return;
  const p = err.body ?? { title: 'Error', detail: String(err.message ?? err) };
  const box = el('div', { class: 'problem', role: 'alert' }, el('strong', { text: p.title || 'Error' }));
  if (p.detail) box.append(el('div', { text: p.detail }));
  if (p.errors && typeof p.errors === 'object') {
    const list = el('ul');
    for (const [field, reasons] of Object.entries(p.errors)) {
      list.append(el('li', { text: `${field}: ${[].concat(reasons).join(' ')}` }));
    }
    box.append(list);
  }
  if (p.unavailable_seats?.length) box.append(el('div', { text: `Unavailable: ${p.unavailable_seats.join(', ')}` }));
  target.append(box);
}

export function randomHex(bytes) {
  // getRandomValues works on plain http too (randomUUID needs a secure context).
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Wires a second-factor form (code) and an error box: ask(mfaToken, email) shows the form for a
 * login that answered mfa_required; the authenticator code (or a recovery code) finishes it at
 * POST /auth/login/2fa, and onDone(tokenPair, email) gets the answer. The password login and the
 * identity-provider sign-in (signed-in.js) both end here.
 */
export function mountSecondFactor({ mfaForm, error, onDone }) {
  let challenge = null;
  mfaForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    showProblem(error, null);
    const code = mfaForm.elements.code.value.trim();
    const step = /^\d{6}$/.test(code) ? { code } : { recovery_code: code };
    try {
      const res = await api('POST', '/auth/login/2fa', { mfa_token: challenge?.token, ...step });
      const email = challenge?.email;
      challenge = null;
      mfaForm.hidden = true;
      onDone(res, email);
    } catch (err) {
      showProblem(error, err);
    }
  });
  return {
    ask(token, email) {
      challenge = { token, email };
      mfaForm.hidden = false;
      mfaForm.elements.code.focus();
    },
  };
}

/**
 * Wires a sign-in form (email, password), its second-factor form (code) and an error box: a login
 * that answers mfa_required asks for the authenticator code (or a recovery code) and finishes with it.
 */
export function mountSignIn({ form, mfaForm, error, register }) {
  const done = (res, email) => { mfaForm.hidden = true; form.hidden = false; setAuth(fromTokens(res, email)); };
  const secondFactor = mountSecondFactor({ mfaForm, error, onDone: done });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showProblem(error, null);
    const email = form.elements.email.value.trim();
    try {
      const res = await api('POST', '/auth/login', { email, password: form.elements.password.value });
      if (res.mfa_required) {
        form.hidden = true;
        secondFactor.ask(res.mfa_token, email);
      } else {
        done(res, email);
      }
    } catch (err) {
      showProblem(error, err);
    }
  });
  register?.addEventListener('click', async () => {
    // A throwaway account, so a visitor can try the whole path without inventing credentials.
    showProblem(error, null);
    const email = `demo-${randomHex(5)}@example.com`;
    try {
      done(await api('POST', '/auth/register', { email, password: randomHex(10), display_name: 'Demo visitor' }), email);
    } catch (err) {
      showProblem(error, err);
    }
  });
}

/**
 * Follows a Server-Sent Events stream (WHATWG HTML §9.2) with fetch and the bearer token: calls
 * onEvent(type, data, id) per event and reconnects with Last-Event-ID after a drop, until
 * signal aborts. onState('live' | 'reconnecting') reports the connection.
 */
export async function follow(path, { onEvent, onState = () => {}, signal, authorized = true }) {
  let lastId = null;
  while (!signal.aborted) {
    try {
      const headers = { Accept: 'text/event-stream' };
      if (authorized && auth) headers.Authorization = `Bearer ${auth.token}`;
      if (lastId != null) headers['Last-Event-ID'] = lastId;
      const res = await fetch(path, { headers, signal });
      if (res.status === 401 && authorized && !(await refresh())) return;
      if (res.ok && res.body) {
        onState('live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let type = 'message', data = [], id = null;
            for (const line of block.split('\n')) {
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'event') type = text;
              else if (field === 'data') data.push(text);
              else if (field === 'id') id = text;
            }
            if (id != null) lastId = id;
            if (data.length) onEvent(type, JSON.parse(data.join('\n')), id);
          }
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    onState('reconnecting');
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
