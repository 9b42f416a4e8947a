-- Search by route and local date: the route's few events, then their shows on that local day.
-- timezone(text, timestamptz) is immutable, so the local day can be indexed.
create index show_event_local_day_idx on show (event_id, ((starts_at at time zone time_zone)::date));
