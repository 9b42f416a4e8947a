-- Tickets (issue 14): one per booked seat, issued in the transaction that confirms the booking
-- (SeatInventory's book statement), and admitted at most once.
--
-- A ticket's validity is not stored: it is valid while its booking_seat is active and its booking
-- confirmed, so every path that gives a seat back (a customer's whole or partial cancellation, a
-- cancelled show, a refund) voids the ticket in the same commit without having to remember to.

-- The code a ticket is scanned by: 32 bytes from two v4 UUIDs (gen_random_uuid draws from the
-- server's strong random source; 244 random bits), base64url without padding (43 characters).
-- Never derived from an id, so codes cannot be guessed or enumerated.
create function ticket_code() returns text
language sql volatile parallel safe
as $$
  select rtrim(translate(encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'base64'), '+/', '-_'), '=')
$$;

create table ticket (
  ticket_id         bigint generated always as identity constraint ticket_pk primary key,
  booking_id        bigint not null,
  seat_id           bigint not null,
  show_id           bigint not null constraint ticket_show_fk references show,
  code              text not null default ticket_code() constraint ticket_code_uq unique,
  issued_at         timestamptz not null,
  -- Passenger or attendee; required for flights before check-in, optional otherwise.
  attendee_name     text constraint ticket_attendee_name_ck check (attendee_name is null or length(attendee_name) between 1 and 200),
  -- Admission: set once, by one conditional UPDATE (checked_in_at is null), never cleared.
  checked_in_at     timestamptz,
  checked_in_by     bigint constraint ticket_checked_in_by_fk references app_user,
  checked_in_device text constraint ticket_checked_in_device_ck check (checked_in_device is null or length(checked_in_device) <= 100),
  constraint ticket_booking_seat_fk foreign key (booking_id, seat_id) references booking_seat,
  constraint ticket_booking_seat_uq unique (booking_id, seat_id),
  constraint ticket_admission_ck check ((checked_in_at is null) = (checked_in_by is null))
);

-- The manifest and the live counts read a show's tickets.
create index ticket_show_idx on ticket (show_id);

-- Confirmed bookings made before tickets existed get theirs now.
insert into ticket (booking_id, seat_id, show_id, issued_at)
select bs.booking_id, bs.seat_id, bs.show_id, coalesce(b.confirmed_at, b.created_at)
from booking_seat bs join booking b on b.booking_id = bs.booking_id
where b.status = 'confirmed' and bs.active;

-- Staff: an organizer's grant to another account to check tickets in and read manifests for the
-- organizer's shows (those whose venue or event the organizer owns), and nothing else. A grant,
-- not a role: the account keeps its own role, and one person may work for several organizers.
create table organizer_staff (
  organizer_user_id bigint not null constraint organizer_staff_organizer_fk references app_user,
  staff_user_id     bigint not null constraint organizer_staff_staff_fk references app_user,
  added_at          timestamptz not null,
  constraint organizer_staff_pk primary key (organizer_user_id, staff_user_id),
  constraint organizer_staff_not_self_ck check (organizer_user_id <> staff_user_id)
);

-- "Whom do I work for" on every check-in and manifest request.
create index organizer_staff_staff_idx on organizer_staff (staff_user_id);
