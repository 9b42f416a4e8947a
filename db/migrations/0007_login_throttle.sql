-- Per-account backoff after failed logins. Keyed by the lower-cased email as typed, not by
-- app_user, so an unknown email is throttled exactly like a real one and the answers reveal
-- nothing about which accounts exist. Per-IP limits are the rate limiter's job.
create table login_throttle (
  email_key    text not null constraint login_throttle_pk primary key,
  failures     int not null constraint login_throttle_failures_ck check (failures > 0),
  locked_until timestamptz,
  updated_at   timestamptz not null
);
