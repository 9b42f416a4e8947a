-- GET /me/bookings and GET /me/holds (issue 14) page a customer's rows newest first by id
-- (keyset: id < @before_id order by id desc). Without these, each page would walk the whole
-- table's primary key backwards, filtering out every other customer's rows.
create index hold_user_newest_idx on hold (app_user_id, hold_id desc);
create index booking_user_newest_idx on booking (app_user_id, booking_id desc);
