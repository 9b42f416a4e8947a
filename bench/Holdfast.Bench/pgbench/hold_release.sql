-- The raw ceiling: the hold and release paths' own statements (HoldSeats.cs best-available branch,
-- ReleaseHold.cs, whose batch is one implicit transaction: BEGIN/COMMIT here), run by pgbench against the same database the API is measured on.
-- Variables: min_show, max_show, min_uid, max_uid (set with -D). One pgbench transaction here is a
-- hold (one transaction) followed by its release (a second one), as one API hold + DELETE cycle.
\set show random(:min_show, :max_show)
\set uid random(:min_uid, :max_uid)
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT pg_advisory_xact_lock(hashtextextended('hold-limit:' || :show || ':' || :uid, 0));
SELECT s.status, s.starts_at, s.currency, s.venue_id,
       (SELECT coalesce(sum(h.seat_count), 0) FROM hold h WHERE h.show_id = s.show_id AND h.app_user_id = :uid AND h.status = 'active')
     + (SELECT count(*) FROM booking b JOIN booking_seat bs ON bs.booking_id = b.booking_id AND bs.active WHERE b.show_id = s.show_id AND b.app_user_id = :uid) AS seats_taken,
       s.sales_opens_at, s.sales_closes_at
FROM show s WHERE s.show_id = :show FOR KEY SHARE OF s;
SELECT ss.seat_id, ss.category, p.amount_minor
FROM show_seat ss JOIN seat se ON se.seat_id = ss.seat_id JOIN show_price p ON p.show_id = ss.show_id AND p.category = ss.category
WHERE ss.show_id = :show AND ss.category = 'economy' AND ss.state = 'available'
ORDER BY ss.rank LIMIT 1 FOR UPDATE OF ss SKIP LOCKED \gset
WITH new_hold AS (
  INSERT INTO hold (show_id, app_user_id, currency, total_minor, seat_count, created_at, expires_at)
  VALUES (:show, :uid, 'GBP', :amount_minor, 1, now(), now() + interval '10 minutes') RETURNING hold_id
), priced AS (
  INSERT INTO hold_seat (hold_id, show_id, seat_id, category, price_minor) SELECT hold_id, :show, :seat_id, 'economy', :amount_minor FROM new_hold
), marked AS (
  UPDATE show_seat ss SET state = 'held', hold_id = new_hold.hold_id FROM new_hold
  WHERE ss.show_id = :show AND ss.seat_id = any(array[:seat_id]::bigint[]) AND ss.state = 'available' RETURNING ss.seat_id
), expiry AS (
  INSERT INTO job (queue, kind, priority, payload, run_at, unique_key)
  SELECT 'holds', 'hold.expire', 1, jsonb_build_object('hold_id', hold_id), now() + interval '10 minutes', 'hold:' || hold_id FROM new_hold
)
SELECT (SELECT hold_id FROM new_hold) AS hold_id, (SELECT count(*) FROM marked) AS marked,
       seat_feed_append(:show, 'held', 'held', (SELECT array_agg(seat_id ORDER BY seat_id) FROM marked), now()) AS seq \gset
COMMIT;
BEGIN;
SELECT status FROM hold WHERE hold_id = :hold_id AND (app_user_id = :uid OR false) FOR UPDATE;
SELECT booking_id FROM booking WHERE hold_id = :hold_id AND status = 'pending_payment';
WITH ended AS (
  UPDATE hold SET status = 'released', ended_at = now()
  WHERE hold_id = :hold_id AND status = 'active' AND app_user_id = :uid
    AND NOT EXISTS (SELECT 1 FROM booking b WHERE b.hold_id = hold.hold_id AND b.status = 'pending_payment') RETURNING hold_id, show_id
), freed AS (
  UPDATE show_seat ss SET state = 'available', hold_id = NULL FROM ended, hold_seat hs
  WHERE hs.hold_id = ended.hold_id AND ss.show_id = ended.show_id AND ss.seat_id = hs.seat_id AND ss.hold_id = ended.hold_id RETURNING ss.seat_id
), expiry AS (
  UPDATE job SET state = 'cancelled', finalized_at = now() FROM ended
  WHERE job.kind = 'hold.expire' AND job.unique_key = 'hold:' || ended.hold_id AND job.state IN ('available', 'retryable')
)
SELECT ended.hold_id, seat_feed_append(ended.show_id, 'released', 'available', (SELECT array_agg(seat_id ORDER BY seat_id) FROM freed), now()) FROM ended;
COMMIT;
