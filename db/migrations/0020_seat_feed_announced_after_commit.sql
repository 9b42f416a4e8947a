-- seat_feed_append no longer notifies. A notification inside every seat-changing transaction
-- serialized their commits under PostgreSQL's single notify lock and woke every listener once per
-- transaction. Each app node now announces, after commit, the shows whose feeds it changed, in one
-- notification per batch; listeners read the events from seat_event, which stays gapless per show,
-- and poll seat_feed for the shows they serve, so an announcement that never comes (a node that
-- died after its commit, or a change made by hand in SQL) delays events but cannot lose them
-- (docs/decisions/0009-seat-feed-announced-after-commit.md).
create or replace function seat_feed_append(p_show_id bigint, p_kind text, p_state text, p_seat_ids bigint[], p_at timestamptz)
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
  return v_seq;
end;
$$;
