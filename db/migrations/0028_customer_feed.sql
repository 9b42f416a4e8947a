-- The customer's own feed for GET /me/stream: every change of a hold's, a booking's or a payment
-- attempt's status becomes a customer_event, numbered 1, 2, 3, … per customer, in the transaction
-- that made the change (docs/decisions/0024-my-stream.md).
--
-- Triggers, not calls from the slices: a status changes on many paths (hold, release, expiry,
-- checkout, confirmation by the answer or the webhook, payment deadline, cancellation, show
-- cancellation, refund) and the next one someone writes must not be able to forget the customer.
-- The per-customer number is taken under the customer's customer_feed row lock, held to commit, so
-- a customer's events commit in number order and "everything after n" replays without a gap.
-- Nothing is notified here (a NOTIFY inside the transaction serializes commits, decision 0009);
-- each node polls customer_feed.last_seq for the customers it streams to.

create table customer_feed (
  app_user_id bigint constraint customer_feed_pk primary key
              constraint customer_feed_app_user_fk references app_user,
  last_seq    bigint not null constraint customer_feed_last_seq_ck check (last_seq > 0)
);

create table customer_event (
  app_user_id bigint not null,
  seq         bigint not null,
  -- The database clock at the changing transaction's start (now()).
  occurred_at timestamptz not null default now(),
  -- hold.held, hold.released, hold.expired, booking.pending_payment, booking.confirmed,
  -- booking.payment_failed, booking.cancelled, booking.expired, booking.refunded.
  kind        text not null,
  show_id     bigint not null,
  hold_id     bigint,
  booking_id  bigint,
  -- When the hold expires (hold.held) or the booking must be paid by (booking.pending_payment).
  due_at      timestamptz,
  constraint customer_event_pk primary key (app_user_id, seq)
);

create function customer_feed_append(p_user bigint, p_kind text, p_show bigint, p_hold bigint, p_booking bigint, p_due timestamptz)
returns void
language sql
as $$
  with next as (
    insert into customer_feed as f (app_user_id, last_seq) values (p_user, 1)
    on conflict (app_user_id) do update set last_seq = f.last_seq + 1
    returning last_seq
  )
  insert into customer_event (app_user_id, seq, kind, show_id, hold_id, booking_id, due_at)
  select p_user, next.last_seq, p_kind, p_show, p_hold, p_booking, p_due from next;
$$;

create function hold_customer_event() returns trigger
language plpgsql
as $$
begin
  perform customer_feed_append(new.app_user_id,
    case when tg_op = 'INSERT' then 'hold.held' else 'hold.' || new.status end,
    new.show_id, new.hold_id, null, case when tg_op = 'INSERT' then new.expires_at end);
  return null;
end;
$$;

-- 'booked' is told by the booking's own events.
create trigger hold_customer_event_insert after insert on hold
  for each row execute function hold_customer_event();
create trigger hold_customer_event_update after update of status on hold
  for each row when (old.status is distinct from new.status and new.status in ('released', 'expired'))
  execute function hold_customer_event();

create function booking_customer_event() returns trigger
language plpgsql
as $$
begin
  perform customer_feed_append(new.app_user_id, 'booking.' || new.status, new.show_id, new.hold_id, new.booking_id,
    case when new.status = 'pending_payment' then new.payment_deadline end);
  return null;
end;
$$;

create trigger booking_customer_event_insert after insert on booking
  for each row execute function booking_customer_event();
create trigger booking_customer_event_update after update of status on booking
  for each row when (old.status is distinct from new.status)
  execute function booking_customer_event();

-- A declined card or an unreachable provider; the booking stays payable until its deadline.
create function payment_attempt_customer_event() returns trigger
language plpgsql
as $$
declare
  v_user bigint;
  v_show bigint;
  v_hold bigint;
  v_deadline timestamptz;
begin
  select app_user_id, show_id, hold_id, payment_deadline into v_user, v_show, v_hold, v_deadline
  from booking where booking_id = new.booking_id;
  perform customer_feed_append(v_user, 'booking.payment_failed', v_show, v_hold, new.booking_id, v_deadline);
  return null;
end;
$$;

create trigger payment_attempt_customer_event after update of status on payment_attempt
  for each row when (old.status is distinct from new.status and new.status in ('requires_payment_method', 'failed'))
  execute function payment_attempt_customer_event();
