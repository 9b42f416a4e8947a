-- Browser push subscriptions (W3C Push API): where to send, and the keys to encrypt for
-- (RFC 8291). One endpoint belongs to one account; a push service answering 404 or 410 deletes it.
create table push_subscription (
  push_subscription_id bigint generated always as identity constraint push_subscription_pk primary key,
  app_user_id          bigint not null constraint push_subscription_app_user_fk references app_user on delete cascade,
  endpoint             text not null constraint push_subscription_endpoint_uq unique
                       constraint push_subscription_endpoint_ck check (endpoint ~ '^https?://' and length(endpoint) <= 2048),
  -- The subscriber's P-256 public key, uncompressed (65 octets), and its auth secret (16 octets).
  p256dh               bytea not null constraint push_subscription_p256dh_ck check (length(p256dh) = 65),
  auth                 bytea not null constraint push_subscription_auth_ck check (length(auth) = 16),
  created_at           timestamptz not null
);

create index push_subscription_user_idx on push_subscription (app_user_id);
