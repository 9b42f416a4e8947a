// Holdfast customer page: search shows, follow one show's seat map live over SSE, pick seats or ask
// for N together, hold with a countdown, pay with the gateway's test cards, and follow my bookings
// live (GET /me/stream) with their tickets' QR codes. No framework and no build step.

import { $, el, money, localTime, clock, api, apiBlob, showProblem, auth, onAuthChange, signOut, mountSignIn, follow } from './common.js';

// ---------- account ----------

function renderAccount() {
  const box = $('account');
  box.replaceChildren();
  if (auth) box.append(el('span', { text: `Signed in as ${auth.email}` }), ' ', el('button', { type: 'button', class: 'secondary', text: 'Sign out', onclick: () => signOut() }));
  $('signin').hidden = !!auth;
  $('mine').hidden = !auth;
  $('me').hidden = !auth;
  if (!auth) { selected.clear(); hold = null; }
  repaintAll();
  updateBookingUi();
  followMine();
  loadIdentities();
  loadPhone();
}

onAuthChange(renderAccount);
mountSignIn({ form: $('auth-form'), mfaForm: $('mfa-form'), error: $('auth-error'), register: $('register') });

/**
 * "Sign in with …" buttons for the configured identity providers (GET /auth/external). A button is a
 * navigation: the provider's page, then signed-in.html with a one-time code (never a token in a URL).
 */
let providers = [];
const signedInPage = new URL('signed-in.html', location.href).href;
async function loadProviders() {
  try { providers = await api('GET', '/auth/external'); } catch { /* the password form still works */ }
  $('external-signin').replaceChildren(...providers.map((p) => el('button', {
    type: 'button', class: 'secondary', 'data-provider': p.name, text: `Sign in with ${p.display_name}`,
    onclick: () => location.assign(`${p.start_path}?redirect_uri=${encodeURIComponent(signedInPage)}`),
  })));
  $('external-signin').hidden = !providers.length;
  loadIdentities();
}
loadProviders();

// ---------- linked sign-ins ----------

/**
 * My identities at the providers (GET /auth/identities), each with Unlink, and Link buttons for the
 * providers not linked yet: POST /auth/external/{provider}/link gives a URL with a one-time link
 * ticket, and the browser goes there (and comes back through signed-in.html, signed in).
 */
async function loadIdentities() {
  if (!auth) return;
  showProblem($('identities-error'), null);
  try {
    const identities = await api('GET', '/auth/identities');
    const shown = (name) => providers.find((p) => p.name === name)?.display_name ?? name;
    $('identities').replaceChildren(...identities.map((i) => el('li', { class: 'identity', 'data-provider': i.provider },
      el('span', { text: `${shown(i.provider)}${i.email ? ` (${i.email})` : ''}` }),
      el('button', { type: 'button', class: 'secondary', text: 'Unlink', onclick: () => unlink(i.identity_id) }))));
    if (!identities.length) $('identities').append(el('li', { class: 'muted', text: 'None: you sign in with your password.' }));
    const linked = new Set(identities.map((i) => i.provider));
    $('link-buttons').replaceChildren(...providers.filter((p) => !linked.has(p.name)).map((p) => el('button', {
      type: 'button', class: 'secondary', text: `Link ${p.display_name}`, onclick: () => link(p.name),
    })));
  } catch (e) {
    showProblem($('identities-error'), e);
  }
}

async function link(provider) {
  showProblem($('identities-error'), null);
  try {
    const start = await api('POST', `/auth/external/${encodeURIComponent(provider)}/link`, { redirect_uri: signedInPage });
    location.assign(start.authorize_url);
  } catch (e) {
    showProblem($('identities-error'), e);
  }
}

async function unlink(identityId) {
  showProblem($('identities-error'), null);
  try {
    await api('DELETE', `/auth/identities/${identityId}`);
    await loadIdentities();
  } catch (e) {
    showProblem($('identities-error'), e);
  }
}

// ---------- text messages ----------

/** My number (GET /me/phone): add it, verify it with the code sent by SMS, then choose which texts to get. */
async function loadPhone() {
  if (!auth) return;
  let phone = null;
  try {
    phone = await api('GET', '/me/phone');
  } catch (e) {
    if (e.status !== 404) { showProblem($('phone-error'), e); return; }
  }
  renderPhone(phone);
}

function renderPhone(phone) {
  $('phone-state').textContent = !phone ? 'No number: add one to get texts.'
    : phone.verified ? `Texts go to ${phone.phone_number}.`
    : `Enter the code sent to ${phone.phone_number}.`;
  $('phone-form').hidden = !!phone?.verified;
  $('phone-verify-form').hidden = !phone || phone.verified;
  $('phone-prefs').hidden = !phone?.verified;
  $('phone-remove').hidden = !phone;
  if (phone?.verified) {
    for (const kind of ['confirmation', 'reminder', 'show_changes']) $('phone-prefs').querySelector(`[name='${kind}']`).checked = phone[kind];
  }
}

async function phoneCall(method, path, body) {
  showProblem($('phone-error'), null);
  try {
    renderPhone(await api(method, path, body));
    return true;
  } catch (e) {
    showProblem($('phone-error'), e);
    return false;
  }
}

$('phone-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (await phoneCall('PUT', '/me/phone', { phone_number: e.target.elements.phone_number.value.trim() })) $('phone-verify-form').elements.code.focus();
});
$('phone-verify-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (await phoneCall('POST', '/me/phone/verify', { code: e.target.elements.code.value.trim() })) e.target.reset();
});
$('phone-prefs').addEventListener('change', () => {
  const chosen = (kind) => $('phone-prefs').querySelector(`[name='${kind}']`).checked;
  phoneCall('PUT', '/me/phone/preferences', { confirmation: chosen('confirmation'), reminder: chosen('reminder'), show_changes: chosen('show_changes') });
});
$('phone-remove').addEventListener('click', async () => {
  showProblem($('phone-error'), null);
  try {
    await api('DELETE', '/me/phone');
    renderPhone(null);
  } catch (e) {
    showProblem($('phone-error'), e);
  }
});

// ---------- search ----------

const showInfo = new Map(); // show_id -> search result, reused for the seat map's header
let lastParams = {};
let nextCursor = null;

async function search(params, append = false) {
  const query = new URLSearchParams({ ...params, limit: '20' });
  if (append && nextCursor) query.set('cursor', nextCursor);
  showProblem($('search-error'), null);
  try {
    const page = await api('GET', `/shows?${query}`);
    if (!append) $('results').replaceChildren();
    for (const show of page.items) {
      showInfo.set(String(show.show_id), show);
      $('results').append(resultItem(show));
    }
    lastParams = params;
    nextCursor = page.next_cursor;
    $('more').hidden = !nextCursor;
    const count = $('results').children.length;
    $('results-caption').textContent = count ? `${count} show${count === 1 ? '' : 's'}${Object.keys(params).length ? '' : ' coming up'}` : 'No shows found.';
    markActive();
  } catch (e) {
    showProblem($('search-error'), e);
  }
}

function resultItem(s) {
  const route = [s.code, s.origin && s.destination ? `${s.origin} → ${s.destination}` : null, s.venue_name].filter(Boolean).join(' · ');
  return el('li', {},
    el('button', { type: 'button', class: 'result', 'data-show': s.show_id, onclick: () => openShow(String(s.show_id)) },
      el('span', { class: 'kind', text: s.kind }),
      el('strong', { text: s.title }),
      el('span', { class: 'muted', text: route }),
      el('span', { text: localTime(s.local_starts_at, s.time_zone) }),
      el('span', { class: 'price' }, s.lowest_price_minor == null ? 'sold out' : `from ${money(s.lowest_price_minor, s.currency)}`, el('span', { class: 'muted', text: ` · ${s.seats_available} seats left` }))));
}

function markActive() {
  for (const b of document.querySelectorAll('.result')) {
    if (b.dataset.show === view.id) b.setAttribute('aria-current', 'true');
    else b.removeAttribute('aria-current');
  }
}

$('search').addEventListener('submit', (e) => {
  e.preventDefault();
  const params = {};
  for (const [k, v] of new FormData(e.target)) if (String(v).trim()) params[k] = String(v).trim();
  search(params);
});
$('upcoming').addEventListener('click', () => search({}));
$('more').addEventListener('click', () => search(lastParams, true));

// ---------- now showing ----------

/** Films now showing and coming soon (GET /events?showing=…), with their posters; a click searches the film's shows. */
async function loadShowing() {
  try {
    const [now, soon] = await Promise.all([api('GET', '/events?kind=film&showing=now&limit=12'), api('GET', '/events?kind=film&showing=soon&limit=12')]);
    const card = (e) => el('li', {},
      el('button', { type: 'button', class: 'poster', title: e.description ?? e.title, onclick: () => search({ kind: 'film', q: e.title }) },
        e.poster_url ? el('img', { src: e.poster_url, alt: '', loading: 'lazy' }) : el('span', { class: 'no-poster', text: '🎬' }),
        el('span', { text: e.title }), e.release_date ? el('span', { class: 'muted', text: e.release_date }) : null));
    $('now-showing').replaceChildren(...now.items.map(card));
    $('coming-soon').replaceChildren(...soon.items.map(card));
    $('showing').hidden = !now.items.length && !soon.items.length;
  } catch { /* the lists are a convenience; search still works */ }
}

// ---------- live seat map ----------

const CATEGORY_TINTS = { first: '#9d174d', business: '#6d28d9', premium: '#0f766e', premium_economy: '#0f766e', economy: '#2563eb', standard: '#2563eb' };
const SPARE_TINTS = ['#0369a1', '#15803d', '#a16207', '#be185d', '#4338ca'];

let view = { id: null };
const selected = new Set(); // seat ids picked for a hold (signed in only)
let hold = null;            // the visitor's active hold, if any
let countdown = null;

function openShow(id, push = true) {
  closeStream();
  view = { id, es: null, seq: -1, seats: new Map(), tints: new Map(), currency: null, prices: {}, retry: null };
  selected.clear();
  if (push) {
    const url = new URL(location.href);
    url.searchParams.set('show', id);
    history.pushState({ show: id }, '', url); // shareable link; back/forward handled by popstate
  }
  $('empty').hidden = true;
  $('show').hidden = false;
  renderHeader(showInfo.get(id));
  if (!showInfo.has(id)) api('GET', `/shows/${id}`).then((s) => view.id === id && renderHeader(s), () => {});
  $('map').replaceChildren(el('p', { class: 'muted', text: 'Loading seats…' }));
  $('legend').replaceChildren();
  $('log').replaceChildren();
  $('last-id').textContent = '–';
  showProblem($('show-error'), null);
  markActive();
  updateBookingUi();
  connect(null);
}

function renderHeader(s) {
  $('show-title').textContent = s ? s.title : `Show ${view.id}`;
  $('show-meta').textContent = s
    ? [s.code, s.origin && s.destination ? `${s.origin} → ${s.destination}` : null, s.venue_name, localTime(s.local_starts_at, s.time_zone)].filter(Boolean).join(' · ')
    : '';
}

function closeStream() {
  view.es?.close();
  clearTimeout(view.retry);
}

function setConn(state) {
  $('conn').dataset.state = state;
  $('conn').textContent = state;
}

/** Opens the stream; after a manual reconnect, ?last_event_id asks the server to replay only what we missed. */
function connect(lastId) {
  const es = new EventSource(`/shows/${view.id}/seats/stream${lastId == null ? '' : `?last_event_id=${lastId}`}`);
  view.es = es;
  setConn('connecting');
  es.addEventListener('open', () => setConn('live'));
  es.addEventListener('snapshot', (e) => onSnapshot(JSON.parse(e.data), e));
  es.addEventListener('seats', (e) => onSeats(JSON.parse(e.data), e));
  es.addEventListener('heartbeat', () => {}); // only keeps the connection warm
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CONNECTING) { setConn('reconnecting'); return; } // the browser retries with Last-Event-ID
    // CLOSED: the server answered with an error status and the browser gave up, so ask why and retry ourselves.
    es.close();
    setConn('offline');
    diagnose(es);
  });
}

async function diagnose(es) {
  let gone = false;
  try {
    await api('GET', `/shows/${view.id}/seats`);
  } catch (e) {
    if (view.es !== es) return;
    showProblem($('show-error'), e);
    gone = e.status === 404; // no such show: retrying will not help
    if (gone) $('map').replaceChildren(el('p', { class: 'muted', text: 'No seat map to show.' }));
  }
  if (view.es === es && !gone) view.retry = setTimeout(() => connect(view.seq >= 0 ? view.seq : null), 3000);
}

function onSnapshot(data, e) {
  view.seq = data.seq;
  view.currency = data.currency;
  view.prices = data.prices ?? {};
  drawMap(data.seats ?? []);
  drawLegend();
  updateBookingUi();
  showProblem($('show-error'), null);
  logEvent(e, 'snapshot', `${view.seats.size} seats`);
  setConn('live');
}

function onSeats(change, e) {
  if (change.seq <= view.seq) return; // overlap after a reconnect: already applied
  view.seq = change.seq;
  const labels = [];
  for (const id of change.seat_ids ?? []) {
    const entry = view.seats.get(String(id));
    if (!entry) continue;
    entry.seat.state = change.state;
    if (change.state !== 'available') selected.delete(String(id)); // someone else got it first
    paint(entry);
    flash(entry.btn);
    labels.push(entry.seat.label);
  }
  logEvent(e, change.kind, labels.join(' '), change.occurred_at);
  // The server expires holds on its own clock; if ours went, say so now rather than when the countdown ends.
  const ours = hold && String(hold.show_id) === view.id && hold.seats.some((s) => (change.seat_ids ?? []).map(String).includes(String(s.seat_id)));
  if (ours && change.kind === 'expired') { endHold(); note('Your hold expired and the seats were released.'); }
  updateBookingUi();
}

function drawMap(seats) {
  const map = $('map');
  map.replaceChildren();
  view.seats.clear();
  if (!seats.length) { map.append(el('p', { class: 'muted', text: 'This show has no seats.' })); return; }
  const xs = seats.map((s) => s.x), ys = seats.map((s) => s.y);
  const minX = Math.min(...xs), minY = Math.min(...ys);
  // Column 1 holds row labels; seats sit at their (x, y), so aisles stay as empty grid cells.
  map.style.gridTemplateColumns = `var(--row-label) repeat(${Math.max(...xs) - minX + 1}, var(--seat))`;
  map.style.gridTemplateRows = `repeat(${Math.max(...ys) - minY + 1}, var(--seat))`;
  assignTints(seats);
  const rows = new Map();
  for (const s of seats) if (!rows.has(s.y)) rows.set(s.y, s.row);
  for (const [y, row] of rows) {
    const label = el('span', { class: 'rowlabel', 'aria-hidden': 'true', text: row ?? '' });
    label.style.gridRow = String(y - minY + 1);
    map.append(label);
  }
  for (const seat of seats) {
    const key = String(seat.seat_id);
    const btn = el('button', { type: 'button', class: 'seat', text: seatText(seat), onclick: () => onSeatClick(key) });
    btn.style.gridColumn = String(seat.x - minX + 2);
    btn.style.gridRow = String(seat.y - minY + 1);
    btn.style.setProperty('--tint', view.tints.get(seat.category));
    const entry = { seat, btn };
    view.seats.set(key, entry);
    paint(entry);
    map.append(btn);
  }
  for (const key of [...selected]) if (view.seats.get(key)?.seat.state !== 'available') selected.delete(key);
}

/** Known categories get fixed tints (business purple, premium teal...); others take spare colours, dearest first. */
function assignTints(seats) {
  const names = new Set([...Object.keys(view.prices), ...seats.map((s) => s.category)]);
  const sorted = [...names].sort((a, b) => (view.prices[b] ?? 0) - (view.prices[a] ?? 0));
  let spare = 0;
  view.tints.clear();
  for (const name of sorted) view.tints.set(name, CATEGORY_TINTS[name] ?? SPARE_TINTS[spare++ % SPARE_TINTS.length]);
}

function paint({ seat, btn }) {
  const key = String(seat.seat_id);
  const mine = seat.state === 'held' && hold && String(hold.show_id) === view.id && hold.seats.some((s) => String(s.seat_id) === key);
  const isSelected = selected.has(key);
  btn.dataset.state = seat.state;
  btn.classList.toggle('selected', isSelected);
  btn.classList.toggle('mine', !!mine);
  btn.setAttribute('aria-pressed', String(isSelected));
  // aria-disabled rather than disabled, so the tooltip still shows on taken seats.
  btn.setAttribute('aria-disabled', String(seat.state !== 'available' || !auth));
  const price = view.prices[seat.category];
  const state = mine ? 'held by you' : isSelected ? 'selected' : seat.state;
  btn.title = `${seat.label} · ${seat.category}${price == null ? '' : ` · ${money(price, view.currency)}`} · ${state}`;
  btn.setAttribute('aria-label', `Seat ${seat.label}, ${seat.category}, ${state}`);
}

function repaintAll() {
  for (const entry of view.seats?.values() ?? []) paint(entry);
}

function flash(btn) {
  btn.classList.remove('flash');
  void btn.offsetWidth; // restart the animation when the same seat changes twice in a row
  btn.classList.add('flash');
}

function drawLegend() {
  const items = [...view.tints].map(([name, tint]) =>
    legendItem(`${name}${view.prices[name] == null ? '' : ` ${money(view.prices[name], view.currency)}`}`, 'available', tint));
  items.push(legendItem('held', 'held'), legendItem('booked', 'booked'), legendItem('blocked', 'blocked'));
  items.push(legendItem('selected', 'available selected'), legendItem('your hold', 'held mine'));
  $('legend').replaceChildren(...items);
}

function legendItem(text, classes, tint) {
  const [state, ...extra] = classes.split(' ');
  const swatch = el('span', { class: `seat swatch ${extra.join(' ')}`, 'data-state': state, 'aria-hidden': 'true' });
  if (tint) swatch.style.setProperty('--tint', tint);
  return el('li', {}, swatch, text);
}

function logEvent(e, kind, what, at) {
  $('last-id').textContent = e.lastEventId || '–';
  const log = $('log');
  log.prepend(el('li', { 'data-kind': kind },
    el('span', { class: 'muted', text: clock(at) }), ' ', el('strong', { text: `#${e.lastEventId}` }), ' ',
    el('span', { class: 'kind', text: kind }), ' ', what));
  while (log.children.length > 20) log.lastElementChild.remove();
}

// ---------- holding and booking ----------

function onSeatClick(key) {
  const entry = view.seats.get(key);
  if (!entry) return;
  if (!auth) return note('Sign in to pick seats.');
  if (hold) return note('Book or release your current hold first.');
  if (entry.seat.state !== 'available') return note(`${entry.seat.label} is ${entry.seat.state}.`);
  if (selected.has(key)) selected.delete(key);
  else if (selected.size >= 10) return note('At most 10 seats at a time.');
  else selected.add(key);
  note('');
  paint(entry);
  updateBookingUi();
}

function note(text) {
  $('booking-msg').replaceChildren(text ? el('p', { class: 'note', text }) : '');
}

function updateBookingUi() {
  $('booking').hidden = !view.seats?.size; // nothing to pick until a snapshot has drawn seats
  const picked = [...selected].map((k) => view.seats.get(k)?.seat).filter(Boolean);
  const total = picked.reduce((sum, s) => sum + (view.prices[s.category] ?? 0), 0);
  $('hint').textContent = !auth ? 'Sign in (left) to hold and book seats.'
    : hold ? 'Your seats are held.'
    : picked.length ? `Selected ${picked.map((s) => s.label).join(', ')} — ${money(total, view.currency)}`
    : 'Click available seats to select them (up to 10).';
  $('hold-btn').hidden = $('clear-btn').hidden = !auth || !!hold;
  $('hold-btn').disabled = !picked.length || !!hold;
  $('clear-btn').disabled = !picked.length;
  $('hold-btn').textContent = picked.length ? `Hold selected (${picked.length})` : 'Hold selected';
  $('hold').hidden = !hold;
  $('together').hidden = !auth || !!hold;
  // The categories this map has seats of, cheapest first.
  const categories = [...new Set([...(view.seats?.values() ?? [])].map((e) => e.seat.category))].sort((a, b) => (view.prices[a] ?? 0) - (view.prices[b] ?? 0));
  const cat = $('together-cat');
  const key = `${view.id}:${categories.join(',')}`;
  if (cat.dataset.for !== key) {
    cat.replaceChildren(...categories.map((c) => el('option', { value: c, text: `${c} ${money(view.prices[c], view.currency)}` })));
    cat.dataset.for = key;
  }
}

/** Runs an authenticated action; a 401 means the token died, so sign out instead of leaving a broken state. */
async function guarded(action) {
  showProblem($('booking-msg'), null);
  try {
    await action();
  } catch (e) {
    showProblem($('booking-msg'), e);
  }
}

$('hold-btn').addEventListener('click', () => guarded(async () => {
  const labels = [...selected].map((k) => view.seats.get(k).seat.label);
  try {
    hold = await api('POST', `/shows/${view.id}/holds`, { seats: labels });
  } catch (e) {
    // Drop the seats the server says are gone, so the next try can succeed.
    const gone = new Set(e.body?.unavailable_seats ?? []);
    for (const k of [...selected]) if (gone.has(view.seats.get(k)?.seat.label)) selected.delete(k);
    repaintAll();
    updateBookingUi();
    throw e;
  }
  selected.clear();
  startHold();
}));

$('clear-btn').addEventListener('click', () => { selected.clear(); repaintAll(); updateBookingUi(); });

$('together-btn').addEventListener('click', () => guarded(async () => {
  const quantity = Number($('together-qty').value);
  const category = $('together-cat').value;
  hold = await api('POST', `/shows/${view.id}/holds`, { category, quantity, accessible: $('together-access').checked || undefined });
  selected.clear();
  startHold();
  if (hold.together === false) note('We could not seat you all together: these are the closest seats left.');
}));

function startHold() {
  $('hold-summary').textContent = `Holding ${hold.seats.map((s) => s.label).join(', ')} — ${money(hold.total_minor, hold.currency)}`;
  startCountdown();
  repaintAll();
  updateBookingUi();
}

// ---------- paying ----------

let payments = { provider: 'fake', publishable_key: null, test_cards: [] };

/** The fake gateway's test cards in the card list, or (with Stripe) Stripe.js and no list. */
async function loadPayments() {
  try { payments = await api('GET', '/payments/config'); } catch { /* keep the fake gateway's defaults */ }
  const stripe = payments.provider === 'stripe';
  $('card-choice').hidden = stripe;
  if (!stripe && payments.test_cards.length) {
    $('card').replaceChildren(...payments.test_cards.map((c) => el('option', { value: c.payment_method, text: c.description })));
  }
}

const stripeJs = () => new Promise((resolve, reject) => {
  if (window.Stripe) return resolve(window.Stripe);
  document.head.append(el('script', { src: 'https://js.stripe.com/v3/', onload: () => resolve(window.Stripe), onerror: () => reject(new Error('Stripe.js did not load.')) }));
});

/** Stripe's Payment Element for a PaymentIntent checkout created; the webhook confirms the booking, and /me/stream tells this page. */
async function payWithStripe(booking) {
  const Stripe = await stripeJs();
  const stripe = Stripe(payments.publishable_key);
  const elements = stripe.elements({ clientSecret: booking.payment.client_secret });
  const box = $('stripe-element');
  box.replaceChildren();
  box.hidden = false;
  elements.create('payment').mount(box);
  const pay = el('button', { type: 'button', text: `Pay ${money(booking.total_minor, booking.currency)}` });
  box.after(pay);
  pay.addEventListener('click', async () => {
    const { error } = await stripe.confirmPayment({ elements, redirect: 'if_required' });
    if (error) return showProblem($('booking-msg'), { body: { title: 'Payment failed', detail: error.message } });
    pay.remove();
    box.hidden = true;
    note(`Paid: booking ${booking.booking_id} is confirmed as soon as Stripe tells us.`);
  });
}

$('book-btn').addEventListener('click', () => guarded(async () => {
  const heldId = hold.hold_id;
  const stripe = payments.provider === 'stripe' && payments.publishable_key;
  try {
    const booking = await api('POST', `/holds/${heldId}/booking`, stripe ? {} : { payment_method: $('card').value });
    endHold();
    if (stripe && booking.status === 'pending_payment' && booking.payment?.client_secret) return payWithStripe(booking);
    note(`Booked! Booking ${booking.booking_id} (${booking.status}): ${booking.seats.map((s) => s.label).join(', ')} — ${money(booking.total_minor, booking.currency)}`);
  } catch (e) {
    // 402: the card was declined; the booking waits for payment until its deadline (pay again under My bookings).
    if (e.status === 402) endHold();
    throw e;
  }
  // My bookings updates from /me/stream (booking.confirmed or booking.payment_failed), not from here.
}));

$('release-btn').addEventListener('click', () => guarded(async () => {
  await api('DELETE', `/holds/${hold.hold_id}`);
  endHold();
  note('Hold released.');
}));

function startCountdown() {
  clearInterval(countdown);
  const tick = () => {
    const left = Math.max(0, Math.round((Date.parse(hold.expires_at) - Date.now()) / 1000));
    $('countdown').textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
    if (left === 0) { endHold(); note('Your hold expired and the seats were released.'); }
  };
  tick();
  countdown = setInterval(tick, 1000);
}

function endHold() {
  clearInterval(countdown);
  hold = null;
  repaintAll();
  updateBookingUi();
}

// ---------- my bookings, live ----------

let mineStream = null;

/** Follows GET /me/stream while signed in: every status change of my holds and bookings reloads the list. */
function followMine() {
  mineStream?.abort();
  mineStream = null;
  $('my-bookings').replaceChildren();
  $('tickets').replaceChildren();
  if (!auth) return;
  const controller = new AbortController();
  mineStream = controller;
  follow('/me/stream', {
    signal: controller.signal,
    onState: (state) => { $('mine-conn').dataset.state = state; $('mine-conn').textContent = state; },
    onEvent: (type, data) => {
      if (type === 'heartbeat') return;
      if (type === 'hold.expiring_soon' && hold && hold.hold_id === data.hold_id) note('Your hold expires soon: book now to keep the seats.');
      if (type === 'hold.expired' && hold && hold.hold_id === data.hold_id) { endHold(); note('Your hold expired and the seats were released.'); }
      if (type === 'ready' || type.startsWith('booking.')) loadMine();
    },
  });
}

async function loadMine() {
  if (!auth) return;
  try {
    const page = await api('GET', '/me/bookings?limit=10');
    $('my-bookings').replaceChildren(...page.items.map(bookingItem));
    if (!page.items.length) $('my-bookings').append(el('li', { class: 'muted', text: 'No bookings yet.' }));
  } catch (e) {
    showProblem($('mine-error'), e);
  }
}

function bookingItem(b) {
  const actions = [];
  if (b.status === 'confirmed') actions.push(el('button', { type: 'button', class: 'secondary', text: 'Tickets', onclick: () => openTickets(b.booking_id) }));
  if (b.status === 'pending_payment') {
    actions.push(el('button', { type: 'button', text: 'Pay', onclick: () => mineAction(() => api('POST', `/bookings/${b.booking_id}/payments`, { payment_method: $('card').value })) }));
  }
  if (b.status === 'confirmed' || b.status === 'pending_payment') {
    actions.push(el('button', {
      type: 'button', class: 'secondary', text: 'Cancel',
      onclick: () => confirm(`Cancel booking ${b.booking_id}?`) && mineAction(() => api('POST', `/bookings/${b.booking_id}/cancellation`, {})),
    }));
  }
  return el('li', { class: 'booking-item', 'data-booking': b.booking_id, 'data-status': b.status },
    el('strong', { text: b.title }), ' ', el('span', { class: 'status-tag', text: b.status.replace('_', ' ') }),
    el('div', { class: 'muted', text: `${localTime(b.local_starts_at, b.time_zone)} · ${b.seat_count} seat${b.seat_count === 1 ? '' : 's'} · ${money(b.total_minor, b.currency)}` }),
    el('div', { class: 'row' }, ...actions));
}

async function mineAction(action) {
  showProblem($('mine-error'), null);
  try { await action(); } catch (e) { showProblem($('mine-error'), e); }
  loadMine();
}

/** The booking's tickets with their QR codes (fetched with the token, shown from blob URLs). */
async function openTickets(bookingId) {
  const box = $('tickets');
  for (const img of box.querySelectorAll('img')) URL.revokeObjectURL(img.src);
  box.replaceChildren(el('p', { class: 'muted', text: 'Loading tickets…' }));
  try {
    const tickets = await api('GET', `/bookings/${bookingId}/tickets`);
    const cards = [];
    for (const t of tickets) {
      const card = el('figure', { class: 'ticket', 'data-status': t.status, 'data-code': t.code },
        el('figcaption', {}, el('strong', { text: `Seat ${t.seat}` }), ` · ${t.category} · ${t.status.replace('_', ' ')}`,
          t.attendee_name ? el('div', { text: t.attendee_name }) : null, el('code', { text: t.code })));
      if (t.qr_url) card.prepend(el('img', { src: URL.createObjectURL(await apiBlob(t.qr_url)), alt: `QR code of the ticket for seat ${t.seat}`, width: 180, height: 180 }));
      cards.push(card);
    }
    box.replaceChildren(el('h3', { text: `Tickets of booking ${bookingId}` }), ...cards);
  } catch (e) {
    box.replaceChildren();
    showProblem($('mine-error'), e);
  }
}

// ---------- start-up ----------

function fromUrl(push) {
  const id = new URL(location.href).searchParams.get('show');
  if (id && /^\d+$/.test(id)) openShow(id, push);
  else if (view.id) { closeStream(); view = { id: null }; $('show').hidden = true; $('empty').hidden = false; markActive(); }
}

window.addEventListener('popstate', () => fromUrl(false));

// The date field defaults to tomorrow (local), but the first list is unfiltered: the next shows of any kind.
const tomorrow = new Date();
tomorrow.setDate(tomorrow.getDate() + 1);
$('search').elements.date.value = [tomorrow.getFullYear(), tomorrow.getMonth() + 1, tomorrow.getDate()].map((n) => String(n).padStart(2, '0')).join('-');

renderAccount();
loadPayments();
loadShowing();
fromUrl(false);
search({});

// A seat shows what is printed on it: the letter on a plane or coach ("12A" → "A"), the number in a hall ("F7" → "7").
function seatText(seat) {
  const label = String(seat.label ?? '');
  const row = String(seat.row ?? '');
  const rest = label.startsWith(row) ? label.slice(row.length) : label;
  return rest || String(seat.number ?? '');
}
