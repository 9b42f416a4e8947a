-- TOTP two-factor authentication (RFC 6238). The secret is set at enrolment and becomes active
-- when the customer proves their authenticator has it (totp_enabled_at). totp_last_step stores
-- the last accepted time step so an observed code cannot be replayed within its window.
alter table app_user
  add column totp_secret bytea,
  add column totp_enabled_at timestamptz,
  add column totp_last_step bigint,
  add constraint app_user_totp_enabled_has_secret_ck check (totp_enabled_at is null or totp_secret is not null);

-- One-time recovery codes, stored as SHA-256 only: ten random codes with 40 bits each are not
-- guessable online, so a fast hash is enough.
create table recovery_code (
  recovery_code_id bigint generated always as identity constraint recovery_code_pk primary key,
  app_user_id      bigint not null constraint recovery_code_app_user_fk references app_user on delete cascade,
  code_hash        bytea not null,
  used_at          timestamptz,
  constraint recovery_code_user_hash_uq unique (app_user_id, code_hash)
);
