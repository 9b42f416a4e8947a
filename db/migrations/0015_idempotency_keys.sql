-- Idempotency-Key for POSTs that create holds, bookings and refunds (the IETF httpapi
-- idempotency-key draft, as Stripe implements it). A key belongs to one caller; the first request
-- with it runs and its response is stored; a retry with the same body gets that response, with a
-- different body 422, and while the first is still running 409. Kept 24 hours.
create table idempotency_key (
  caller        text not null,
  key           text not null constraint idempotency_key_key_ck check (length(key) between 1 and 255),
  method        text not null,
  path          text not null,
  request_hash  bytea not null,
  -- Null while the first request is in flight.
  response_status int,
  response_type   text,
  response_body   bytea,
  created_at    timestamptz not null,
  constraint idempotency_key_pk primary key (caller, key)
);

create index idempotency_key_created_idx on idempotency_key (created_at);
