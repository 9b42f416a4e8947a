-- Payments (Stripe PaymentIntents, or the built-in fake) and refunds.
-- A booking is pending_payment until a payment succeeds; each attempt is a PaymentIntent with its
-- own idempotency key, so a new attempt after a decline is a new PaymentIntent (the alf.io #1254
-- trap). Money in minor units of the booking's currency; refunds can never exceed what was paid.
alter table booking
  add column payment_deadline timestamptz,
  add column paid_minor bigint not null default 0 constraint booking_paid_ck check (paid_minor >= 0),
  add column refunded_minor bigint not null default 0 constraint booking_refunded_ck check (refunded_minor >= 0),
  add constraint booking_refund_within_paid_ck check (refunded_minor <= paid_minor);

-- A pending booking per hold at most; the hold's row lock serializes checkouts.
create index booking_pending_deadline_idx on booking (payment_deadline) where status = 'pending_payment';

create table payment_attempt (
  payment_attempt_id  bigint generated always as identity constraint payment_attempt_pk primary key,
  booking_id          bigint not null constraint payment_attempt_booking_fk references booking,
  provider            text not null,
  idempotency_key     text not null constraint payment_attempt_idempotency_key_uq unique,
  -- The PaymentIntent id (pi_…), once the provider answered.
  provider_payment_id text constraint payment_attempt_provider_payment_uq unique,
  client_secret       text,
  amount_minor        bigint not null constraint payment_attempt_amount_ck check (amount_minor >= 0),
  currency            char(3) not null,
  -- Stripe's PaymentIntent statuses, plus 'failed' when the provider could not be reached.
  status              text not null default 'created'
                      constraint payment_attempt_status_ck check (status in ('created', 'requires_payment_method', 'requires_confirmation',
                        'requires_action', 'processing', 'requires_capture', 'succeeded', 'canceled', 'failed')),
  last_error          text,
  created_at          timestamptz not null,
  updated_at          timestamptz not null
);

create index payment_attempt_booking_idx on payment_attempt (booking_id, payment_attempt_id desc);

-- Every provider event, recorded once: a duplicate or concurrent delivery finds its id taken.
create table payment_event (
  provider          text not null,
  provider_event_id text not null,
  type              text not null,
  received_at       timestamptz not null,
  payload           jsonb not null,
  constraint payment_event_pk primary key (provider, provider_event_id)
);

create table refund (
  refund_id          bigint generated always as identity constraint refund_pk primary key,
  booking_id         bigint not null constraint refund_booking_fk references booking,
  payment_attempt_id bigint not null constraint refund_payment_attempt_fk references payment_attempt,
  amount_minor       bigint not null constraint refund_amount_ck check (amount_minor > 0),
  currency           char(3) not null,
  -- requested_by_customer, show_cancelled, seats_unavailable, duplicate
  reason             text not null,
  status             text not null default 'pending' constraint refund_status_ck check (status in ('pending', 'succeeded', 'failed')),
  idempotency_key    text not null constraint refund_idempotency_key_uq unique,
  provider_refund_id text constraint refund_provider_refund_uq unique,
  last_error         text,
  created_at         timestamptz not null,
  updated_at         timestamptz not null
);

create index refund_booking_idx on refund (booking_id);
