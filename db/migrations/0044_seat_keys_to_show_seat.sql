-- Issue 17: a hold's and a booking's seats refer to the show's seat (show_seat), not the venue's
-- (seat) (docs/decisions/0034-seat-keys-to-show-seat.md). A foreign-key check takes FOR KEY SHARE
-- on the row it refers to. On `seat` that row is shared by every show of the venue, so concurrent
-- holds and bookings on different shows of one venue locked the same rows: a MultiXact for each
-- overlap (2.2 per booking in the bench, over 3 aircraft layouts) and a page of `seat` dirtied by
-- every lock. The show's seat is the row the same statement has just locked and updated: the check
-- finds it in a page already written, and no other transaction shares the lock. It is also the
-- stronger rule: a held or booked seat must be a seat of that show, not of any venue.

-- hold_seat gains its show (the hold's), filled in for existing rows.
alter table hold_seat add column show_id bigint;
update hold_seat hs set show_id = h.show_id from hold h where h.hold_id = hs.hold_id;
alter table hold_seat alter column show_id set not null;

alter table hold_seat add constraint hold_seat_show_seat_fk foreign key (show_id, seat_id) references show_seat (show_id, seat_id) not valid;
alter table hold_seat validate constraint hold_seat_show_seat_fk;
alter table hold_seat drop constraint hold_seat_seat_fk;

alter table booking_seat add constraint booking_seat_show_seat_fk foreign key (show_id, seat_id) references show_seat (show_id, seat_id) not valid;
alter table booking_seat validate constraint booking_seat_show_seat_fk;
alter table booking_seat drop constraint booking_seat_seat_fk;
