-- The raw ceiling of a booking: the SQL one end-to-end booking runs (hold 2 best economy seats,
-- check out, then in one transaction record the PaymentIntent and confirm: book the seats, queue
-- the confirmation email and the reminders; then read the booking back), in the app's round trips
-- and transactions (HoldSeats.cs, BookHold.cs, PaymentProcessing.cs, GetBooking.cs), run by pgbench
-- against the same database the API is measured on. The job workers (the email rendered) are not
-- in it: this is the database's share of a booking, without HTTP, JSON, JWTs or the app's work.
-- Variables: min_show, max_show, min_uid, max_uid (set with -D).
\set show random(:min_show, :max_show)
\set uid random(:min_uid, :max_uid)
-- 1. The hold (HoldSeats.cs, SeatInventory.TakeSql).
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT pg_advisory_xact_lock(hashtextextended('hold-limit:' || :show || ':' || :uid, 0));
SELECT s.status, s.starts_at, s.currency, s.venue_id,
       (SELECT coalesce(sum(h.seat_count), 0) FROM hold h WHERE h.show_id = s.show_id AND h.app_user_id = :uid AND h.status = 'active')
     + (SELECT count(*) FROM booking b JOIN booking_seat bs ON bs.booking_id = b.booking_id AND bs.active WHERE b.show_id = s.show_id AND b.app_user_id = :uid) AS seats_taken,
       s.sales_opens_at, s.sales_closes_at
FROM show s WHERE s.show_id = :show FOR KEY SHARE OF s;
SELECT array_agg(seat_id) AS seat_ids, array_agg(category) AS categories, array_agg(amount_minor) AS prices, sum(amount_minor) AS total
FROM (SELECT ss.seat_id, ss.category, p.amount_minor
      FROM show_seat ss JOIN seat se ON se.seat_id = ss.seat_id JOIN show_price p ON p.show_id = ss.show_id AND p.category = ss.category
      WHERE ss.show_id = :show AND ss.category = 'economy' AND ss.state = 'available'
      ORDER BY ss.rank LIMIT 2 FOR UPDATE OF ss SKIP LOCKED) picked \gset
WITH new_hold AS (
  INSERT INTO hold (show_id, app_user_id, currency, total_minor, seat_count, created_at, expires_at)
  VALUES (:show, :uid, 'GBP', :total, 2, now(), now() + interval '10 minutes') RETURNING hold_id
), priced AS (
  INSERT INTO hold_seat (hold_id, show_id, seat_id, category, price_minor)
  SELECT new_hold.hold_id, :show, x.seat_id, x.category, x.price_minor FROM new_hold, unnest(:seat_ids::bigint[], :categories::text[], :prices::bigint[]) AS x (seat_id, category, price_minor)
), marked AS (
  UPDATE show_seat ss SET state = 'held', hold_id = new_hold.hold_id FROM new_hold
  WHERE ss.show_id = :show AND ss.seat_id = any(:seat_ids::bigint[]) AND ss.state = 'available' RETURNING ss.seat_id
), expiry AS (
  INSERT INTO job (queue, kind, priority, payload, run_at, unique_key, max_attempts, created_at)
  SELECT 'holds', 'hold.expire', 1, jsonb_build_object('hold_id', hold_id), now() + interval '10 minutes', 'hold:' || hold_id, 20, now() FROM new_hold
)
SELECT (SELECT hold_id FROM new_hold) AS hold_id, (SELECT count(*) FROM marked) AS marked,
       seat_feed_append(:show, 'held', 'held', (SELECT array_agg(seat_id ORDER BY seat_id) FROM marked), now()) AS seq \gset
COMMIT;
-- 2. The checkout, one statement (its own transaction): the booking, its payment attempt and
-- deadline job, durable before the provider is called.
WITH locked AS (
  SELECT h.hold_id, h.status, h.expires_at, h.show_id, h.currency, h.total_minor, b.booking_id AS existing_booking_id, b.status AS existing_status
  FROM hold h LEFT JOIN booking b ON b.hold_id = h.hold_id WHERE h.hold_id = :hold_id AND h.app_user_id = :uid FOR UPDATE OF h
), new_booking AS (
  INSERT INTO booking (hold_id, show_id, app_user_id, status, currency, total_minor, payment_provider, created_at, payment_deadline)
  SELECT hold_id, show_id, :uid, 'pending_payment', currency, total_minor, 'fake', now(), now() + interval '15 minutes'
  FROM locked WHERE status = 'active' AND expires_at > now() AND existing_booking_id IS NULL RETURNING booking_id, hold_id, currency, total_minor
), hold_extended AS (
  UPDATE hold SET expires_at = greatest(expires_at, now() + interval '15 minutes') WHERE hold_id IN (SELECT hold_id FROM new_booking)
), hold_expiry_handed_over AS (
  UPDATE job SET state = 'cancelled', finalized_at = now() FROM (SELECT hold_id FROM new_booking) a
  WHERE job.kind = 'hold.expire' AND job.unique_key = 'hold:' || a.hold_id AND job.state IN ('available', 'retryable')
), audited AS (
  INSERT INTO audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
  SELECT now(), :uid, 'booking.created', 'booking', booking_id, jsonb_build_object('hold_id', hold_id),
         jsonb_build_object('status', 'pending_payment', 'total_minor', total_minor, 'currency', currency) FROM new_booking
), attempt AS (
  INSERT INTO payment_attempt (booking_id, provider, idempotency_key, amount_minor, currency, payment_method, created_at, updated_at)
  SELECT booking_id, 'fake', 'booking-' || booking_id || '-' || md5(random()::text), total_minor, currency, 'pm_card_visa', now(), now() FROM new_booking
  RETURNING payment_attempt_id, idempotency_key
), deadline AS (
  INSERT INTO job (kind, queue, priority, payload, run_at, unique_key, max_attempts, created_at)
  SELECT 'payments.deadline', 'default', 1, jsonb_build_object('booking_id', booking_id), now() + interval '15 minutes', 'deadline:' || booking_id, 20, now() FROM new_booking
  ON CONFLICT (kind, unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable') DO NOTHING
)
SELECT l.status, (SELECT booking_id FROM new_booking) AS booking_id, (SELECT payment_attempt_id FROM attempt) AS attempt_id FROM locked l \gset
-- 3. The provider answered succeeded: its answer recorded and the success processed in one transaction.
BEGIN;
UPDATE payment_attempt SET provider_payment_id = 'pi_bench_' || :attempt_id, client_secret = 'pi_bench_secret', updated_at = now()
WHERE payment_attempt_id = :attempt_id;
-- The success: compare-and-set on the attempt, the seats booked, the email and reminders queued
-- (the app sends the lock with the record above, and the rest in one batch after it).
SELECT a.payment_attempt_id, a.status, a.amount_minor, b.booking_id, b.status, b.hold_id, b.show_id, b.app_user_id, b.currency
FROM payment_attempt a JOIN booking b ON b.booking_id = a.booking_id
WHERE a.provider = 'fake' AND a.provider_payment_id = 'pi_bench_' || :attempt_id FOR UPDATE OF a, b;
UPDATE payment_attempt SET status = 'succeeded', last_error = null, updated_at = now() WHERE payment_attempt_id = :attempt_id;
UPDATE booking SET paid_minor = paid_minor + :total WHERE booking_id = :booking_id;
WITH wanted AS (
  SELECT hs.seat_id, hs.category, hs.price_minor FROM hold_seat hs WHERE hs.hold_id = :hold_id
), takeable AS (
  SELECT ss.seat_id FROM show_seat ss JOIN wanted w ON w.seat_id = ss.seat_id
  WHERE ss.show_id = :show AND ((ss.state = 'held' AND ss.hold_id = :hold_id) OR ss.state = 'available') FOR UPDATE OF ss SKIP LOCKED
), ok AS (
  SELECT (SELECT count(*) FROM takeable) = (SELECT count(*) FROM wanted) AS all_free
), marked AS (
  UPDATE show_seat ss SET state = 'booked', hold_id = NULL, booking_id = :booking_id
  FROM ok WHERE ok.all_free AND ss.show_id = :show AND ss.seat_id IN (SELECT seat_id FROM takeable) RETURNING ss.seat_id
), sold AS (
  INSERT INTO booking_seat (booking_id, show_id, seat_id, category, price_minor)
  SELECT :booking_id, :show, w.seat_id, w.category, w.price_minor FROM wanted w, ok WHERE ok.all_free
), confirmed AS (
  UPDATE booking SET status = 'confirmed', confirmed_at = now() FROM ok WHERE ok.all_free AND booking_id = :booking_id
), hold_done AS (
  UPDATE hold SET status = 'booked', ended_at = coalesce(ended_at, now()) FROM ok WHERE ok.all_free AND hold_id = :hold_id
), expiry AS (
  UPDATE job SET state = 'cancelled', finalized_at = now()
  WHERE job.kind = 'hold.expire' AND job.unique_key = 'hold:' || :hold_id AND job.state IN ('available', 'retryable')
), audited AS (
  INSERT INTO audit_log (occurred_at, actor_user_id, action, entity, entity_id, before, after)
  SELECT now(), null, 'booking.confirmed', 'booking', :booking_id::bigint, jsonb_build_object('status', 'pending_payment'), jsonb_build_object('status', 'confirmed') FROM ok WHERE ok.all_free
), email AS (
  INSERT INTO job (kind, queue, priority, payload, run_at, unique_key, max_attempts, created_at)
  SELECT 'email.send', 'default', 2, jsonb_build_object('template', 'booking_confirmed', 'booking_id', :booking_id::bigint), now(), 'booking_confirmed:' || :booking_id, 10, now()
  FROM ok WHERE ok.all_free
), reminders AS (
  -- The show's reminder rounds (ReminderSchedule, decision 0033): written by its first booking,
  -- found through the live unique key by every later one.
  INSERT INTO job (kind, queue, priority, payload, run_at, unique_key, max_attempts, created_at)
  SELECT 'reminder.show', 'default', 2, jsonb_build_object('show_id', s.show_id, 'offset_hours', o.hours),
         s.starts_at - make_interval(hours => o.hours), 'reminder-show:' || s.show_id || ':' || o.hours, 10, now()
  FROM ok, show s CROSS JOIN unnest(array[48, 3]) AS o (hours)
  WHERE ok.all_free AND s.show_id = :show AND s.starts_at - make_interval(hours => o.hours) > now()
  ON CONFLICT (kind, unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable') DO NOTHING
)
SELECT all_free AND seat_feed_append(:show, 'booked', 'booked', (SELECT array_agg(seat_id ORDER BY seat_id) FROM marked), now()) IS NOT NULL FROM ok;
COMMIT;
-- 4. The booking read back for the response, with its refunds (GetBooking.LoadAsync, one batch).
SELECT b.booking_id, b.status, b.hold_id, b.show_id, e.title, s.starts_at, s.starts_at AT TIME ZONE s.time_zone AS local_starts_at,
       s.time_zone, b.currency, b.total_minor, b.payment_provider, b.payment_reference, b.created_at, b.confirmed_at,
       seats.seat_id, seats.label, seats.category, seats.price_minor, seats.active, b.payment_deadline, b.paid_minor, b.refunded_minor,
       a.provider_payment_id, a.client_secret, a.status AS payment_status, b.app_user_id, a.last_error
FROM booking b
JOIN show s ON s.show_id = b.show_id JOIN event e ON e.event_id = s.event_id JOIN venue v ON v.venue_id = s.venue_id
LEFT JOIN LATERAL (SELECT provider_payment_id, client_secret, status, last_error FROM payment_attempt
                   WHERE booking_id = b.booking_id ORDER BY payment_attempt_id DESC LIMIT 1) a ON true
CROSS JOIN LATERAL (SELECT bs.seat_id, se.label, bs.category, bs.price_minor, bs.active
                    FROM booking_seat bs JOIN seat se ON se.seat_id = bs.seat_id WHERE bs.booking_id = b.booking_id) seats
WHERE b.booking_id = :booking_id AND b.app_user_id = :uid
ORDER BY seats.seat_id;
SELECT refund_id, amount_minor, reason, status, created_at FROM refund WHERE booking_id = :booking_id ORDER BY refund_id;
