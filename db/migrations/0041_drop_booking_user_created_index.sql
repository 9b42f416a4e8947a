-- Issue 17: one index fewer on every booking write. booking_user_idx (app_user_id, created_at desc,
-- migration 0003) has had no reader since my bookings page by booking_user_newest_idx (migration
-- 0027); a booking is inserted once and updated on the way to confirmed, and each insert or
-- non-HOT update paid for an entry here.
drop index booking_user_idx;
