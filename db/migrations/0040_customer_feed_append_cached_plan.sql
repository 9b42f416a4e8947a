-- Issue 17: a customer event's append keeps its plan. customer_feed_append was a SQL-language
-- function, which PostgreSQL plans again on every call when it cannot inline it (a data-modifying
-- CTE never is): pg_stat_statements counted 1,248 plans for 1,248 calls in a bookings run, and the
-- booking trigger that calls it was the dearest statement nested in a booking (three appends per
-- booking: hold.held, booking.pending_payment, booking.confirmed). PL/pgSQL prepares the statement
-- once per session and reuses the plan. Same statement, same arguments, same result.
create or replace function customer_feed_append(p_user bigint, p_kind text, p_show bigint, p_hold bigint, p_booking bigint, p_due timestamptz)
returns void
language plpgsql
as $$
begin
  with next as (
    insert into customer_feed as f (app_user_id, last_seq) values (p_user, 1)
    on conflict (app_user_id) do update set last_seq = f.last_seq + 1
    returning last_seq
  )
  insert into customer_event (app_user_id, seq, kind, show_id, hold_id, booking_id, due_at)
  select p_user, next.last_seq, p_kind, p_show, p_hold, p_booking, p_due from next;
end;
$$;
