-- Live door counts on the seat feed: each admission appends a 'checked_in' event for its seat with
-- the show's admitted and expected ticket counts (docs/decisions/0023-tickets-and-boarding.md).
alter table seat_event
  add column admitted int,
  add column expected int;

create function seat_feed_append_check_in(p_show_id bigint, p_seat_id bigint, p_at timestamptz)
returns bigint
language plpgsql
as $$
declare
  v_seq bigint;
  v_admitted int;
  v_expected int;
begin
  update seat_feed set last_seq = last_seq + 1 where show_id = p_show_id returning last_seq into v_seq;
  if v_seq is null then
    raise exception 'show % has no seat_feed row', p_show_id using errcode = 'foreign_key_violation';
  end if;

  -- Counted after taking the feed's row lock, in a statement of its own (a fresh snapshot under
  -- READ COMMITTED): one show's admissions are numbered one at a time, so each event's counts
  -- include every admission numbered before it.
  select count(*) filter (where t.checked_in_at is not null), count(*)
  into v_admitted, v_expected
  from ticket t
  join booking_seat bs on bs.booking_id = t.booking_id and bs.seat_id = t.seat_id and bs.active
  join booking b on b.booking_id = t.booking_id and b.status = 'confirmed'
  where t.show_id = p_show_id;

  insert into seat_event (show_id, seq, occurred_at, kind, state, seat_ids, admitted, expected)
  values (p_show_id, v_seq, p_at, 'checked_in', 'booked', array[p_seat_id], v_admitted, v_expected);
  return v_seq;
end;
$$;
