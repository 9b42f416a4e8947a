-- Recurring jobs. Each schedule's next slot is claimed with a compare-and-set on next_run_at, so
-- however many nodes run the scheduler, one of them enqueues each slot (and the job's unique key
-- name:slot is a second guard).
create table job_schedule (
  name        text not null constraint job_schedule_pk primary key,
  -- Five-field cron (minute hour day-of-month month day-of-week, UTC) or "@every <n>s|m|h".
  schedule    text not null,
  kind        text not null,
  queue       text not null default 'default',
  next_run_at timestamptz not null,
  last_run_at timestamptz
);

-- Lists jobs for the admin API by kind and recency.
create index job_kind_created_idx on job (kind, created_at desc);
