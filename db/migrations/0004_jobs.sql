-- The job table: every timer and queue of Holdfast (hold expiry now; payments, reminders and email
-- later). Modelled on riverqueue/river's river_job: claimed with FOR UPDATE SKIP LOCKED, leased to one
-- worker at a time, retried with backoff, finalized jobs kept for a while and then deleted.

create table job (
  job_id           bigint generated always as identity constraint job_pk primary key,
  queue            text not null default 'default',
  kind             text not null,
  payload          jsonb not null default '{}',
  state            text not null default 'available'
                   constraint job_state_ck check (state in ('available', 'running', 'retryable', 'completed', 'discarded', 'cancelled')),
  -- Lower runs first.
  priority         smallint not null default 2 constraint job_priority_ck check (priority between 1 and 4),
  run_at           timestamptz not null,
  attempt          int not null default 0,
  max_attempts     int not null default 20 constraint job_max_attempts_ck check (max_attempts > 0),
  -- Who holds the job and until when; a lease that lapses means the worker died and the job is rescued.
  leased_by        text,
  lease_expires_at timestamptz,
  -- Deduplicates live jobs of one kind (e.g. one expiry per hold).
  unique_key       text,
  errors           jsonb not null default '[]',
  created_at       timestamptz not null default now(),
  attempted_at     timestamptz,
  finalized_at     timestamptz,
  constraint job_running_has_lease_ck check (state <> 'running' or lease_expires_at is not null)
) with (
  -- Jobs churn: inserted, updated twice and deleted within minutes. Vacuum early and often so dead
  -- tuples do not bloat the claim index, and leave page room for HOT updates.
  fillfactor = 80,
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_cost_delay = 0,
  autovacuum_analyze_scale_factor = 0.02
);

-- The claim query's index: only jobs that can run are in it, in the order they are taken.
create index job_claim_idx on job (queue, priority, run_at, job_id) where state in ('available', 'retryable');

-- Rescue finds running jobs whose lease lapsed.
create index job_lease_idx on job (lease_expires_at) where state = 'running';

create unique index job_unique_key_live_uq on job (kind, unique_key)
  where unique_key is not null and state in ('available', 'running', 'retryable');

-- Retention deletes finalized jobs oldest first.
create index job_finalized_idx on job (finalized_at) where finalized_at is not null;
