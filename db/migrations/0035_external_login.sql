-- External login with OpenID Connect (issue 16, docs/decisions/0027-external-login.md).

-- A disabled account cannot sign in by any means (password, refresh, external provider) and its
-- access tokens are refused at once: the session gate reads this column, and the trigger below
-- tells every node when it changes. Null while the account may sign in.
alter table app_user add column disabled_at timestamptz;

create trigger app_user_disabled_changed_notify
  after update of disabled_at on app_user
  for each row when (old.disabled_at is distinct from new.disabled_at)
  execute function session_changed_notify();

-- An identity at an OpenID Connect provider linked to a Holdfast account. The provider's `sub` is
-- unique and stable only within its issuer (OpenID Connect Core 1.0 §2), so (provider, subject) is
-- the key; the email is what the provider said at linking time, kept to show the customer which
-- identity it is, never to find the account again.
create table external_identity (
  external_identity_id bigint generated always as identity constraint external_identity_pk primary key,
  app_user_id          bigint not null constraint external_identity_app_user_fk references app_user on delete cascade,
  provider             text not null constraint external_identity_provider_ck check (length(provider) between 1 and 50),
  subject              text not null constraint external_identity_subject_ck check (length(subject) between 1 and 255),
  email                text constraint external_identity_email_ck check (length(email) <= 254),
  linked_at            timestamptz not null,
  constraint external_identity_provider_subject_uq unique (provider, subject)
);
-- GET /auth/identities and the "last way to sign in" check read an account's identities.
create index external_identity_app_user_idx on external_identity (app_user_id);

-- Short-lived one-time grants of the external login, stored as SHA-256 only (32 random bytes are not
-- guessable, so a fast hash is enough):
--   login: the code the callback hands the client in its redirect, exchanged once at
--          POST /auth/external/token for a token pair, so no token ever travels in a URL;
--   link:  the ticket a signed-in account gets to link a provider identity to itself, spent when
--          the browser starts the redirect (the account id then rides in the protected state).
create table external_grant (
  grant_hash  bytea constraint external_grant_pk primary key,
  purpose     text not null constraint external_grant_purpose_ck check (purpose in ('login', 'link')),
  app_user_id bigint not null constraint external_grant_app_user_fk references app_user on delete cascade,
  provider    text constraint external_grant_link_has_provider_ck check (purpose <> 'link' or provider is not null),
  created_at  timestamptz not null,
  expires_at  timestamptz not null,
  used_at     timestamptz
);
-- Lets the pruning of spent and expired grants find them without a scan.
create index external_grant_expires_idx on external_grant (expires_at);
