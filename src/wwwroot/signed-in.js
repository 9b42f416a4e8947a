// Where an identity provider sign-in comes back (ExternalLogin:RedirectUris names this page):
// ?code=… is exchanged once at POST /auth/external/token for Holdfast's tokens (stored as the
// password login stores them), with the second factor when the account has one; ?error=… says why
// the sign-in was refused. The code is taken out of the address bar first, so it stays out of the
// history and of anything the page loads. Then back to the customer page, signed in.

import { $, api, showProblem, Problem, setAuth, fromTokens, mountSecondFactor } from './common.js';

const params = new URLSearchParams(location.search);
const code = params.get('code');
const error = params.get('error');
const description = params.get('error_description');
history.replaceState(null, '', location.pathname);

// What each refusal means for a person (GET /auth/external/{provider}/callback lists them).
const REFUSALS = {
  account_exists: 'An account with this email exists: sign in with your password, then link this provider.',
  email_not_verified: 'Your provider has not verified this email.',
  identity_linked_elsewhere: 'This sign-in is linked to another Holdfast account.',
  account_disabled: 'This account is disabled.',
  access_denied: 'The provider did not sign you in.',
  sign_in_raced: 'Another sign-in got in the way.',
  sign_in_failed: 'The sign-in could not be completed.',
};

function fail(problem) {
  $('status').textContent = 'Not signed in.';
  showProblem($('auth-error'), problem);
  $('back').hidden = false;
}

/** Stores the pair, learns the account's email (the pair does not carry it), and goes back to the customer page. */
async function finish(res) {
  setAuth(fromTokens(res, null));
  try {
    const me = await api('GET', `/users/${res.user_id}`);
    setAuth(fromTokens(res, me.email));
  } catch { /* signed in all the same; the page shows no email */ }
  location.replace('./');
}

async function exchange() {
  // A plain fetch, not api(): no bearer token of an earlier session, and a refused code is not a
  // reason to refresh or sign anybody out.
  let res;
  let body = null;
  try {
    res = await fetch('/auth/external/token', {
      method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify({ code }),
    });
    body = await res.json().catch(() => null);
  } catch (e) {
    return fail(new Problem(0, { title: 'Network error', detail: String(e.message ?? e) }));
  }
  if (!res.ok) return fail(new Problem(res.status, body ?? { title: `${res.status} ${res.statusText}` }));
  if (body.mfa_required) {
    $('status').textContent = 'Your account has two-factor authentication: enter a code to finish.';
    mountSecondFactor({ mfaForm: $('mfa-form'), error: $('auth-error'), onDone: finish }).ask(body.mfa_token, null);
    return;
  }
  await finish(body);
}

if (error) {
  fail(new Problem(0, { title: REFUSALS[error] ?? 'Sign-in refused.', detail: description ?? error }));
} else if (code) {
  exchange();
} else {
  fail(new Problem(0, { title: 'Nothing to finish here.', detail: 'This page is where an identity provider sign-in comes back to; start one on the customer page.' }));
}
