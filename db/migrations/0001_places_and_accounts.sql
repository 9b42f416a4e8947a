-- Places (from OpenFlights, see db/seed/SOURCES.md) and the accounts that use Holdfast.
-- Every instant is timestamptz (UTC on the wire); local times are derived through IANA zone names,
-- which PostgreSQL's own tz database resolves (AT TIME ZONE), so no naive local time is ever stored.

create table city (
  city_id   bigint generated always as identity constraint city_pk primary key,
  name      text not null constraint city_name_ck check (length(name) between 1 and 200),
  country   text not null constraint city_country_ck check (length(country) between 1 and 100),
  -- The zone of the city's first airport; used for venues in the city (a cinema hall).
  time_zone text not null,
  constraint city_name_country_uq unique (name, country)
);

-- Finds a city by name without caring about case ("london", "London").
create index city_lower_name_idx on city (lower(name));

create table airport (
  airport_id bigint generated always as identity constraint airport_pk primary key,
  iata       char(3) not null constraint airport_iata_uq unique
                     constraint airport_iata_ck check (iata ~ '^[A-Z0-9]{3}$'),
  icao       text,
  name       text not null,
  city_id    bigint not null constraint airport_city_fk references city,
  latitude   double precision not null constraint airport_latitude_ck check (latitude between -90 and 90),
  longitude  double precision not null constraint airport_longitude_ck check (longitude between -180 and 180),
  time_zone  text not null
);

create index airport_city_idx on airport (city_id);

create table airline (
  airline_id bigint generated always as identity constraint airline_pk primary key,
  iata       char(2) not null constraint airline_iata_uq unique,
  icao       text,
  name       text not null,
  country    text
);

create table app_user (
  app_user_id   bigint generated always as identity constraint app_user_pk primary key,
  email         text not null constraint app_user_email_ck check (length(email) between 3 and 254),
  display_name  text not null,
  -- PasswordHasher<T> v3 format (PBKDF2-HMAC-SHA512, salted). Null for accounts that cannot log in
  -- (the organizers the demo catalogue is loaded under).
  password_hash text,
  role          text not null default 'customer'
                constraint app_user_role_ck check (role in ('admin', 'organizer', 'customer')),
  created_at    timestamptz not null default now()
);

-- Email is unique without regard to case: Alice@x.org and alice@x.org are one account.
create unique index app_user_email_uq on app_user (lower(email));
