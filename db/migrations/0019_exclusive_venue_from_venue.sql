-- show.exclusive_venue restates the venue's kind on the show row, because an exclusion constraint
-- sees only its own row (0008). It is derived here, from the venue, so that no writer can state it
-- differently (the demo seeder used the event's kind, tests left it false).
create function show_exclusive_venue() returns trigger
language plpgsql
as $$
begin
  new.exclusive_venue := (select v.kind in ('cinema_hall', 'coach') from venue v where v.venue_id = new.venue_id);
  return new;
end;
$$;

create trigger show_exclusive_venue_tg before insert or update of venue_id on show
  for each row execute function show_exclusive_venue();

update show s set exclusive_venue = (v.kind in ('cinema_hall', 'coach'))
from venue v where v.venue_id = s.venue_id and s.exclusive_venue <> (v.kind in ('cinema_hall', 'coach'));
