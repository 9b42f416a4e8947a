-- Refresh tokens (RFC 6749 §6, with rotation and reuse detection as the OAuth 2.0 Security BCP
-- §4.14 and RFC 6819 §5.2.2.3 describe). The token itself is 32 random bytes shown to the client
-- once; only its SHA-256 is stored, so a leaked table grants nothing. Each use rotates it: the old
-- row is marked used and a new row joins the same family. A used token presented again means it
-- was stolen (or the client is broken): the whole family, every session descended from that
-- login, is revoked.

create table refresh_token (
  refresh_token_id bigint generated always as identity constraint refresh_token_pk primary key,
  app_user_id      bigint not null constraint refresh_token_app_user_fk references app_user,
  -- One login session; every rotation of it shares the family.
  family_id        uuid not null,
  token_hash       bytea not null constraint refresh_token_hash_uq unique,
  created_at       timestamptz not null,
  expires_at       timestamptz not null,
  -- Set when rotated; presenting the token again after this is a replay.
  used_at          timestamptz,
  revoked_at       timestamptz,
  constraint refresh_token_expires_after_created_ck check (expires_at > created_at)
);

create index refresh_token_family_idx on refresh_token (family_id);
create index refresh_token_user_live_idx on refresh_token (app_user_id) where revoked_at is null;
