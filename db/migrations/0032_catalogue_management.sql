-- Running the catalogue (issue 15): venue groups, archived venues, event status, release dates,
-- descriptions and posters (docs/decisions/0026-catalogue-management.md).

-- A cinema groups its halls, a coach operator its fleet: a named set of one owner's venues. A group
-- holds no seats and hosts no shows, so it is its own table rather than a venue that every venue
-- query would have to leave out.
create table venue_group (
  venue_group_id    bigint generated always as identity constraint venue_group_pk primary key,
  name              text not null constraint venue_group_name_ck check (length(name) between 1 and 100),
  owner_app_user_id bigint not null constraint venue_group_owner_fk references app_user,
  created_at        timestamptz not null default now(),
  constraint venue_group_name_owner_uq unique (owner_app_user_id, name),
  -- The target of venue_group_same_owner_fk: a venue joins only a group of its own owner.
  constraint venue_group_id_owner_uq unique (venue_group_id, owner_app_user_id)
);

alter table venue
  add column venue_group_id bigint,
  -- Set when the organizer retires the venue: it keeps its shows and bookings but takes no new show.
  add column archived_at timestamptz,
  -- MATCH SIMPLE: a venue outside any group (null) passes; inside one, the owners must be equal.
  add constraint venue_group_same_owner_fk foreign key (venue_group_id, owner_app_user_id)
    references venue_group (venue_group_id, owner_app_user_id);

create index venue_group_idx on venue (venue_group_id) where venue_group_id is not null;
-- GET /venues pages one owner's venues by id.
create index venue_owner_idx on venue (owner_app_user_id, venue_id);
-- DELETE /venues/{id} lets show_venue_fk decide; without an index every venue delete scans show.
create index show_venue_idx on show (venue_id, starts_at);

-- A poster, stored once per content: the SHA-256 of the bytes is the key and the URL, so the same
-- image uploaded for two films is one row, and a URL once served never changes meaning.
create table poster_image (
  sha256     bytea not null constraint poster_image_pk primary key
             constraint poster_image_sha256_ck check (length(sha256) = 32),
  media_type text not null constraint poster_image_media_type_ck check (media_type in ('image/png', 'image/jpeg', 'image/webp')),
  width      int not null constraint poster_image_width_ck check (width between 1 and 20000),
  height     int not null constraint poster_image_height_ck check (height between 1 and 20000),
  content    bytea not null,
  created_at timestamptz not null default now()
);

-- Existing events were public and sellable before there was a status: they are active.
alter table event
  add column status text not null default 'active'
    constraint event_status_ck check (status in ('draft', 'active', 'archived')),
  -- A film's release (a calendar date, no zone): before it the film is "coming soon".
  add column release_date date,
  add column description text constraint event_description_ck check (length(description) <= 5000),
  add column poster_sha256 bytea constraint event_poster_fk references poster_image;

-- GET /events?showing=soon walks active films by release date.
create index event_release_idx on event (release_date) where status = 'active' and release_date is not null;
create index event_owner_idx on event (owner_app_user_id, event_id desc);
