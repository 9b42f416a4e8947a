-- Seat inventory per show, holds, bookings and the ordered seat-event feed.
-- How a seat is never sold twice (GUIDE §4):
--   1. every change to a show_seat row is a conditional UPDATE on its current state, taken with
--      FOR UPDATE SKIP LOCKED so contenders fail fast instead of queueing;
--   2. show_seat_owner_matches_state_ck: a seat row names at most one hold or one booking;
--   3. booking_seat_one_active_sale: a unique index that refuses a second live sale of one seat of one
--      show even if the code above were wrong.

create table hold (
  hold_id     bigint generated always as identity constraint hold_pk primary key,
  show_id     bigint not null constraint hold_show_fk references show,
  app_user_id bigint not null constraint hold_app_user_fk references app_user,
  status      text not null default 'active'
              constraint hold_status_ck check (status in ('active', 'released', 'expired', 'booked')),
  currency    char(3) not null,
  -- Sum of hold_seat.price_minor, locked when the hold was taken.
  total_minor bigint not null constraint hold_total_ck check (total_minor >= 0),
  seat_count  int not null constraint hold_seat_count_ck check (seat_count > 0),
  created_at  timestamptz not null,
  expires_at  timestamptz not null,
  ended_at    timestamptz,
  constraint hold_expires_after_created_ck check (expires_at > created_at)
);

-- The per-customer seat limit counts a customer's live holds on one show.
create index hold_show_user_active_idx on hold (show_id, app_user_id) where status = 'active';

create table hold_seat (
  hold_id     bigint not null constraint hold_seat_hold_fk references hold,
  seat_id     bigint not null constraint hold_seat_seat_fk references seat,
  category    text not null,
  -- Price locked at hold time, in the show's currency's minor units.
  price_minor bigint not null constraint hold_seat_price_ck check (price_minor >= 0),
  constraint hold_seat_pk primary key (hold_id, seat_id)
);

create table booking (
  booking_id        bigint generated always as identity constraint booking_pk primary key,
  hold_id           bigint not null constraint booking_hold_fk references hold
                    constraint booking_hold_uq unique,
  show_id           bigint not null constraint booking_show_fk references show,
  app_user_id       bigint not null constraint booking_app_user_fk references app_user,
  status            text not null
                    constraint booking_status_ck check (status in ('pending_payment', 'confirmed', 'cancelled', 'expired', 'refunded')),
  currency          char(3) not null,
  total_minor       bigint not null constraint booking_total_ck check (total_minor >= 0),
  payment_provider  text not null,
  payment_reference text,
  created_at        timestamptz not null,
  confirmed_at      timestamptz,
  cancelled_at      timestamptz
);

create index booking_show_user_idx on booking (show_id, app_user_id);
create index booking_user_idx on booking (app_user_id, created_at desc);

create table booking_seat (
  booking_id  bigint not null constraint booking_seat_booking_fk references booking,
  show_id     bigint not null,
  seat_id     bigint not null constraint booking_seat_seat_fk references seat,
  category    text not null,
  price_minor bigint not null constraint booking_seat_price_ck check (price_minor >= 0),
  -- False once the seat is given back (cancellation); the row stays as the record of what was sold.
  active      boolean not null default true,
  constraint booking_seat_pk primary key (booking_id, seat_id)
);

-- The last line of defence against a double sale.
create unique index booking_seat_one_active_sale on booking_seat (show_id, seat_id) where active;

-- fillfactor 70 leaves room on each page so the hot path's state flips are HOT updates: state,
-- hold_id and booking_id are deliberately in no index, so no index entry is written per hold.
create table show_seat (
  show_id    bigint not null constraint show_seat_show_fk references show,
  seat_id    bigint not null constraint show_seat_seat_fk references seat,
  -- Copied from seat so availability and best-available read one table.
  category   text not null,
  rank       int not null,
  state      text not null default 'available'
             constraint show_seat_state_ck check (state in ('available', 'held', 'booked', 'blocked')),
  hold_id    bigint,
  booking_id bigint,
  constraint show_seat_pk primary key (show_id, seat_id),
  constraint show_seat_owner_matches_state_ck check (
       (state = 'available' and hold_id is null and booking_id is null)
    or (state = 'held' and hold_id is not null and booking_id is null)
    or (state = 'booked' and hold_id is null and booking_id is not null)
    or (state = 'blocked' and hold_id is null and booking_id is null))
) with (fillfactor = 70);

-- Best available: a show's seats of one category in rank order.
create index show_seat_best_idx on show_seat (show_id, category, rank);

-- One row per show: the last seat-event sequence number handed out. Taking the next number locks
-- this row until commit, so a show's events commit in sequence order and an SSE client that has
-- seen event n has seen every event before it (docs/decisions/0003-seat-event-sequence.md).
create table seat_feed (
  show_id  bigint not null constraint seat_feed_pk primary key
           constraint seat_feed_show_fk references show,
  last_seq bigint not null default 0
) with (fillfactor = 50);

create table seat_event (
  show_id     bigint not null constraint seat_event_show_fk references show,
  -- Gapless per show, 1, 2, 3, ...: the SSE event id.
  seq         bigint not null,
  occurred_at timestamptz not null,
  -- held | released | expired | booked
  kind        text not null,
  -- The state the seats are in after the event.
  state       text not null,
  seat_ids    bigint[] not null,
  constraint seat_event_pk primary key (show_id, seq)
);

-- Appends one seat event for a show and announces it, inside the caller's transaction: one
-- transaction, one event, one notification, however many seats it touched (GUIDE §5).
-- Taking the next sequence number row-locks seat_feed until commit, so events commit in sequence
-- order. The notification carries the whole event so listeners need no read-back, except when the
-- seat list would push it towards NOTIFY's 8000-byte payload limit: then seat_ids is left out and
-- listeners read the event from seat_event.
create function seat_feed_append(p_show_id bigint, p_kind text, p_state text, p_seat_ids bigint[], p_at timestamptz)
returns bigint
language plpgsql
as $$
declare
  v_seq bigint;
begin
  if coalesce(cardinality(p_seat_ids), 0) = 0 then
    return null;
  end if;

  update seat_feed set last_seq = last_seq + 1 where show_id = p_show_id returning last_seq into v_seq;
  if v_seq is null then
    raise exception 'show % has no seat_feed row', p_show_id using errcode = 'foreign_key_violation';
  end if;

  insert into seat_event (show_id, seq, occurred_at, kind, state, seat_ids)
  values (p_show_id, v_seq, p_at, p_kind, p_state, p_seat_ids);

  perform pg_notify('holdfast_seat_events', json_build_object(
    'show_id', p_show_id,
    'seq', v_seq,
    'kind', p_kind,
    'state', p_state,
    'seat_ids', case when cardinality(p_seat_ids) <= 500 then p_seat_ids end,
    'occurred_at', p_at)::text);
  return v_seq;
end;
$$;
