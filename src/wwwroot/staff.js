// Holdfast staff page: open a show, scan tickets (the camera through BarcodeDetector where the
// browser has it, a typed code otherwise), and watch the manifest fill up live from the seat feed's
// checked_in events. Each scan carries its own Idempotency-Key, so a retry after a dropped answer
// gets the first answer instead of "already checked in".

import { $, el, api, showProblem, auth, onAuthChange, signOut, mountSignIn, follow, randomHex } from './common.js';

let board = null; // { showId, feed: AbortController, rows: Map(seat_id -> tr) }

function renderAccount() {
  $('account').replaceChildren(...(auth ? [el('span', { text: `Signed in as ${auth.email}` }), ' ', el('button', { type: 'button', class: 'secondary', text: 'Sign out', onclick: () => signOut() })] : []));
  $('signin').hidden = !!auth;
  $('desk').hidden = !auth;
  if (!auth) closeBoard();
}

onAuthChange(renderAccount);
mountSignIn({ form: $('auth-form'), mfaForm: $('mfa-form'), error: $('auth-error') });

function closeBoard() {
  board?.feed.abort();
  board = null;
  $('board').hidden = true;
}

$('show-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  closeBoard();
  showProblem($('desk-error'), null);
  const showId = e.target.elements.show.value.trim();
  try {
    const manifest = await api('GET', `/shows/${showId}/manifest`);
    board = { showId, feed: new AbortController(), rows: new Map() };
    $('show-title').textContent = `${manifest.title} · show ${showId}`;
    drawManifest(manifest);
    $('board').hidden = false;
    $('scan-form').elements.code.focus();
    follow(`/shows/${showId}/seats/stream`, {
      authorized: false,
      signal: board.feed.signal,
      onState: (state) => { $('feed-conn').dataset.state = state; $('feed-conn').textContent = state; },
      onEvent: (type, data) => { if (type === 'seats' && data.kind === 'checked_in') onCheckedIn(data); },
    });
  } catch (err) {
    showProblem($('desk-error'), err);
  }
});

function drawManifest(manifest) {
  setCounts(manifest.admitted, manifest.expected);
  const rows = manifest.entries.map((entry) => {
    const tr = el('tr', { 'data-status': entry.status, 'data-seat': entry.seat_id },
      el('td', { text: entry.seat }), el('td', { text: entry.attendee_name ?? entry.customer_name ?? '' }), el('td', { text: String(entry.booking_id) }),
      el('td', {}, el('code', { text: entry.ticket_code })), el('td', { class: 'status', text: entry.status.replace('_', ' ') }));
    if (entry.status !== 'void') board.rows.set(String(entry.seat_id), tr);
    return tr;
  });
  $('manifest').replaceChildren(...rows);
}

function setCounts(admitted, expected) {
  $('admitted').textContent = String(admitted);
  $('expected').textContent = String(expected);
}

// Another gate (or this one) admitted someone: counts and the row, from the feed.
function onCheckedIn(change) {
  setCounts(change.admitted, change.expected);
  for (const id of change.seat_ids) {
    const tr = board?.rows.get(String(id));
    if (!tr) continue;
    tr.dataset.status = 'checked_in';
    tr.querySelector('.status').textContent = 'checked in';
  }
}

$('scan-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = e.target.elements.code;
  const code = input.value.trim();
  input.value = '';
  await scan(code);
  input.focus();
});

async function scan(code) {
  if (!board || !code) return;
  const result = $('scan-result');
  const device = $('show-form').elements.device.value.trim() || undefined;
  const key = randomHex(16); // one per scan: a retried request replays this scan's answer
  try {
    const admitted = await api('POST', `/shows/${board.showId}/checkins`, { code, device }, { 'Idempotency-Key': key });
    result.replaceChildren(el('div', { class: 'admit', role: 'status' }, el('strong', { text: `Admit: seat ${admitted.seat}` }),
      admitted.attendee_name ? ` · ${admitted.attendee_name}` : '', ` · ${admitted.category}`));
  } catch (err) {
    result.replaceChildren(el('div', { class: 'refuse' }));
    showProblem(result.firstChild, err);
  }
}

// The camera, where the browser can read QR codes itself.
if ('BarcodeDetector' in window) {
  $('camera-btn').hidden = false;
  $('camera-btn').addEventListener('click', startCamera);
}

async function startCamera() {
  const video = $('camera');
  try {
    const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
    video.hidden = false;
    await video.play();
    $('camera-btn').hidden = true;
    let last = '';
    const tick = async () => {
      if (!board || video.hidden) return;
      try {
        const [found] = await detector.detect(video);
        // The same code held in front of the camera is one scan, not thirty a second.
        if (found && found.rawValue !== last) { last = found.rawValue; await scan(found.rawValue); setTimeout(() => { last = ''; }, 3000); }
      } catch { /* a frame that could not be read */ }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  } catch (err) {
    showProblem($('scan-result'), { body: { title: 'Camera unavailable', detail: String(err.message ?? err) + ' — type the code instead.' } });
  }
}

renderAccount();
