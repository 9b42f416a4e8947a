-- Rules for shows that organizers create.
-- A sales window: holds are taken only while now is inside it.
-- No two live shows overlap in one hall or coach. An aircraft cabin venue is a seat-map template
-- shared by a fleet (every flight of the demo airline uses it), so it is exempt
-- (docs/decisions/0004-exclusive-venues.md). btree_gist lets the exclusion constraint compare
-- venue_id with = alongside the time range.
create extension if not exists btree_gist;

alter table show
  add column sales_opens_at timestamptz,
  add column sales_closes_at timestamptz,
  add column exclusive_venue boolean not null default false;

update show s set sales_opens_at = s.created_at, sales_closes_at = s.starts_at,
                  exclusive_venue = (v.kind in ('cinema_hall', 'coach'))
from venue v where v.venue_id = s.venue_id;

alter table show
  alter column sales_opens_at set not null,
  alter column sales_closes_at set not null,
  add constraint show_sales_window_ck check (sales_closes_at > sales_opens_at and sales_closes_at <= starts_at),
  add constraint show_no_overlap_in_venue exclude using gist (
    venue_id with =, tstzrange(starts_at, ends_at) with &&
  ) where (exclusive_venue and status <> 'cancelled');
