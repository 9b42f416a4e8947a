-- What is sold: venues with their seat maps, events, and shows (an event at a venue at a time).

create table venue (
  venue_id          bigint generated always as identity constraint venue_pk primary key,
  name              text not null,
  kind              text not null
                    constraint venue_kind_ck check (kind in ('cinema_hall', 'coach', 'aircraft_cabin')),
  -- A hall stays in its city; a coach or a cabin travels, so its shows take the origin's zone.
  city_id           bigint constraint venue_city_fk references city,
  owner_app_user_id bigint constraint venue_owner_fk references app_user,
  created_at        timestamptz not null default now(),
  constraint venue_name_owner_uq unique (owner_app_user_id, name)
);

create table seat (
  seat_id     bigint generated always as identity constraint seat_pk primary key,
  venue_id    bigint not null constraint seat_venue_fk references venue,
  section     text not null,
  row_label   text not null,
  seat_number int not null,
  -- What a customer reads and asks for: "12A" on a plane, "F7" in a hall.
  label       text not null,
  category    text not null constraint seat_category_ck check (category ~ '^[a-z][a-z_]{0,31}$'),
  -- Drawing position in seat-map units (one unit = one seat width).
  x           int not null,
  y           int not null,
  -- Best-available order within the venue: lower is better (centre of a hall, front of a cabin).
  rank        int not null,
  constraint seat_venue_label_uq unique (venue_id, label)
);

create table event (
  event_id               bigint generated always as identity constraint event_pk primary key,
  kind                   text not null constraint event_kind_ck check (kind in ('film', 'flight', 'trip')),
  title                  text not null,
  -- A flight number ("BA117") or a service code; null for a film.
  code                   text,
  airline_id             bigint constraint event_airline_fk references airline,
  origin_airport_id      bigint constraint event_origin_airport_fk references airport,
  destination_airport_id bigint constraint event_destination_airport_fk references airport,
  origin_city_id         bigint constraint event_origin_city_fk references city,
  destination_city_id    bigint constraint event_destination_city_fk references city,
  duration_minutes       int not null constraint event_duration_ck check (duration_minutes between 1 and 2880),
  owner_app_user_id      bigint constraint event_owner_fk references app_user,
  created_at             timestamptz not null default now(),
  constraint event_flight_has_airports_ck check (
    kind <> 'flight' or (origin_airport_id is not null and destination_airport_id is not null)),
  constraint event_code_uq unique (kind, code)
);

create index event_origin_city_idx on event (origin_city_id);
create index event_destination_city_idx on event (destination_city_id);

create table show (
  show_id    bigint generated always as identity constraint show_pk primary key,
  event_id   bigint not null constraint show_event_fk references event,
  venue_id   bigint not null constraint show_venue_fk references venue,
  starts_at  timestamptz not null,
  ends_at    timestamptz not null,
  -- The IANA zone the show is sold in: the origin airport's for a flight or trip, else the venue city's.
  -- Copied at creation so a local-date search needs no join to find it.
  time_zone  text not null,
  -- ISO 4217 code; every amount of this show is in its minor units.
  currency   char(3) not null constraint show_currency_ck check (currency ~ '^[A-Z]{3}$'),
  status     text not null default 'on_sale'
             constraint show_status_ck check (status in ('scheduled', 'on_sale', 'closed', 'departed', 'completed', 'cancelled')),
  created_at timestamptz not null default now(),
  constraint show_ends_after_start_ck check (ends_at > starts_at),
  constraint show_event_venue_start_uq unique (event_id, venue_id, starts_at)
);

-- Search walks shows by departure time; show_id breaks ties for keyset pagination.
create index show_starts_at_idx on show (starts_at, show_id);
create index show_event_idx on show (event_id, starts_at);

create table show_price (
  show_id     bigint not null constraint show_price_show_fk references show on delete cascade,
  category    text not null,
  amount_minor bigint not null constraint show_price_amount_ck check (amount_minor >= 0),
  constraint show_price_pk primary key (show_id, category)
);
