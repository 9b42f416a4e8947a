-- Issue 17: best-available reads one table. A show's seats carry their section, drawing position and
-- access beside the category and rank they already copy from the venue's layout (copied when the show
-- is stocked, replaced with the layout, never changed otherwise), so the pick no longer probes `seat`
-- once per seat of the venue (1,494 buffer hits for a 180-seat aircraft; about 10 now).
-- The together windows carry their seats (array_agg over the window's frame) instead of joining the
-- runs back to themselves, which was quadratic in the free seats (18,592 rows filtered for 168 seats).
-- A single seat is locked without a subtransaction: one row is all or nothing already.
-- docs/decisions/0025-seat-blocks-best-available-accessible-seats.md (the algorithm),
-- README "Performance" (the measured effect).

alter table show_seat
  add column section text,
  add column y int,
  add column x int,
  add column access text;

update show_seat ss
set section = se.section, y = se.y, x = se.x, access = se.access
from seat se
where se.seat_id = ss.seat_id;

alter table show_seat
  alter column section set not null,
  alter column y set not null,
  alter column x set not null;

create or replace function best_available_seats(p_show_id bigint, p_category text, p_quantity int, p_accessible boolean)
returns table (seat_id bigint, together boolean)
language plpgsql
as $$
declare
  v_candidate record;
begin
  -- Together windows, best first.
  for v_candidate in
    with free as (
      select ss.seat_id, ss.rank, ss.section, ss.y, ss.x, coalesce(ss.access = 'wheelchair', false) as wheelchair
      from show_seat ss
      where ss.show_id = p_show_id and ss.category = p_category and ss.state = 'available'
        and (ss.access is not null) = p_accessible
    ), runs as (
      select i.seat_id, i.rank, i.section, i.y, i.x, i.island, i.wheelchair,
             count(*) over run as run_length,
             (row_number() over (run order by i.x) - 1)::int as position
      from (select f.*, f.x - row_number() over (partition by f.section, f.y order by f.x) as island from free f) i
      window run as (partition by i.section, i.y, i.island)
    ), windows as (
      select r.section, r.y, r.position, r.run_length,
             array_agg(r.seat_id) over ahead as seat_ids,
             sum(r.rank) over ahead as rank_sum,
             count(*) filter (where r.wheelchair) over ahead as wheelchairs
      from runs r
      window ahead as (partition by r.section, r.y, r.island order by r.x rows between current row and p_quantity - 1 following)
    )
    select w.seat_ids
    from windows w
    where w.run_length - w.position >= p_quantity and (not p_accessible or w.wheelchairs > 0)
    order by (w.position = 1)::int + (w.run_length - w.position - p_quantity = 1)::int,
             w.rank_sum, w.section, w.y, w.position
    limit 200
  loop
    if best_available_lock(p_show_id, v_candidate.seat_ids) then
      return query select unnest(v_candidate.seat_ids), true;
      return;
    end if;
  end loop;

  -- No together window could be had: the split, worked out only now (it reads the runs again,
  -- on a newer snapshot, which is what we want after losing races).
  for v_candidate in
    with free as (
      select ss.seat_id, ss.rank, ss.section, ss.y, ss.x, coalesce(ss.access = 'wheelchair', false) as wheelchair
      from show_seat ss
      where ss.show_id = p_show_id and ss.category = p_category and ss.state = 'available'
        and (ss.access is not null) = p_accessible
    ), runs as (
      select i.seat_id, i.rank, i.section, i.y, i.x, i.island, i.wheelchair,
             count(*) over run as run_length,
             (row_number() over (run order by i.x) - 1)::int as position,
             min(i.rank) over run as run_rank,
             bool_or(i.wheelchair) over run as run_wheelchair
      from (select f.*, f.x - row_number() over (partition by f.section, f.y order by f.x) as island from free f) i
      window run as (partition by i.section, i.y, i.island)
    ), row_free as (
      select r.section, r.y, count(*) as free, min(r.rank) as row_rank from runs r group by r.section, r.y
    ), area as (
      select a.section, a.y as first_y, coalesce(b.y, a.y) as last_y
      from row_free a
      left join row_free b on b.section = a.section and b.y = a.y + 1 and a.free < p_quantity
      where not p_accessible and a.free + coalesce(b.free, 0) >= p_quantity
      order by (b.y is not null)::int, a.row_rank
      limit 1
    ), pieces as (
      select distinct r.section, r.y, r.island, r.run_length, r.run_rank, r.run_wheelchair
      from runs r
      where not exists (select 1 from area)
         or exists (select 1 from area a where a.section = r.section and r.y between a.first_y and a.last_y)
    ), stacked as (
      select p.*, sum(p.run_length) over (order by (p.run_wheelchair and p_accessible) desc, p.run_length desc, p.run_rank, p.section, p.y
                                          rows unbounded preceding) as seated
      from pieces p
    ), rest as (
      select p_quantity - coalesce((select sum(s.run_length) from stacked s where s.seated <= p_quantity), 0) as seats
    ), last_piece as (
      select s.section, s.y, s.island
      from stacked s, rest
      where rest.seats > 0 and s.seated > p_quantity and s.run_length >= rest.seats
      order by (s.run_length - rest.seats = 1)::int, s.run_rank
      limit 1
    ), split as (
      select r.seat_id, r.rank
      from runs r join stacked s on s.section = r.section and s.y = r.y and s.island = r.island
      where s.seated <= p_quantity
      union all
      select r.seat_id, r.rank
      from runs r join last_piece l on l.section = r.section and l.y = r.y and l.island = r.island, rest
      where r.position < rest.seats
    )
    select array_agg(sp.seat_id order by sp.rank) as seat_ids
    from split sp
    having count(*) = p_quantity and (not p_accessible or exists (select 1 from pieces where run_wheelchair))
  loop
    if best_available_lock(p_show_id, v_candidate.seat_ids) then
      return query select unnest(v_candidate.seat_ids), false;
      return;
    end if;
  end loop;
end;
$$;

-- Locks all of p_seat_ids for the caller's transaction, SKIP LOCKED, or none of them: the first
-- seat first (a party that cannot have it leaves the others alone), then the rest; when any is gone
-- the block's subtransaction is rolled back, which gives back the locks it took. One seat needs no
-- subtransaction: its lock is taken or not.
create or replace function best_available_lock(p_show_id bigint, p_seat_ids bigint[])
returns boolean
language plpgsql
as $$
declare
  v_locked int;
begin
  if cardinality(p_seat_ids) = 1 then
    perform 1 from show_seat ss
    where ss.show_id = p_show_id and ss.seat_id = p_seat_ids[1] and ss.state = 'available'
    for update skip locked;
    return found;
  end if;

  -- The block is a subtransaction: leaving it normally keeps its locks, the raise gives them back.
  begin
    perform 1 from show_seat ss
    where ss.show_id = p_show_id and ss.seat_id = p_seat_ids[1] and ss.state = 'available'
    for update skip locked;
    if not found then
      return false; -- took nothing
    end if;

    select count(*) into v_locked
    from (select 1 from show_seat ss
          where ss.show_id = p_show_id and ss.seat_id = any(p_seat_ids[2:]) and ss.state = 'available'
          for update skip locked) l;
    if v_locked = cardinality(p_seat_ids) - 1 then
      return true;
    end if;

    raise sqlstate 'HF001';
  exception when sqlstate 'HF001' then
    return false;
  end;
end;
$$;
