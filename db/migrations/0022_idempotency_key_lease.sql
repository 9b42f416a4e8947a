-- An idempotency key in flight is leased, not owned forever by the request that claimed it: the
-- request renews the lease while it runs, and a request whose process died (SIGKILL, a crash)
-- stops renewing, so a retry with the same key and body takes the key over once the lease lapses
-- instead of getting "409 in flight" until the 24 h prune. Null (rows claimed before this
-- migration) reads as lapsed.
alter table idempotency_key add column locked_until timestamptz;
