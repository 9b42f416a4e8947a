-- SMS notifications (issue 16, docs/decisions/0028-sms.md).

-- A customer's mobile number (E.164, ITU-T E.164: '+', country code, at most 15 digits) and which
-- kinds of message they want by SMS. Every kind is off until the number is verified and the
-- customer turns it on; a STOP from the number (Twilio's inbound webhook) turns all off.
create table customer_phone (
  app_user_id         bigint constraint customer_phone_pk primary key
                      constraint customer_phone_app_user_fk references app_user on delete cascade,
  phone_number        text not null constraint customer_phone_e164_ck check (phone_number ~ '^\+[1-9][0-9]{6,14}$'),
  verified_at         timestamptz,
  notify_confirmation boolean not null default false,
  notify_reminder     boolean not null default false,
  notify_show_changes boolean not null default false,
  updated_at          timestamptz not null,
  -- Nothing is sent to a number nobody proved they hold.
  constraint customer_phone_opt_in_needs_verified_ck
    check (verified_at is not null or not (notify_confirmation or notify_reminder or notify_show_changes))
);
-- A STOP names the number, not the account (one number may serve several accounts).
create index customer_phone_number_idx on customer_phone (phone_number);

-- One-time codes proving a customer holds a number. The code is not stored: it is derived from
-- code_salt with a key only the app has (HMAC-SHA-256 with a key derived from Auth:SigningKey), so
-- neither this table nor the job that sends it (which carries only the id) gives it away.
create table phone_verification (
  phone_verification_id bigint generated always as identity constraint phone_verification_pk primary key,
  app_user_id           bigint not null constraint phone_verification_app_user_fk references app_user on delete cascade,
  phone_number          text not null constraint phone_verification_e164_ck check (phone_number ~ '^\+[1-9][0-9]{6,14}$'),
  code_salt             bytea not null constraint phone_verification_salt_ck check (length(code_salt) = 16),
  attempts              integer not null default 0 constraint phone_verification_attempts_ck check (attempts >= 0),
  created_at            timestamptz not null,
  expires_at            timestamptz not null,
  verified_at           timestamptz
);
-- The latest code of an account (verify, and the resend throttle).
create index phone_verification_user_idx on phone_verification (app_user_id, phone_verification_id desc);
