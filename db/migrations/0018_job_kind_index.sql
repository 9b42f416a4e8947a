-- The admin job list filters by kind and pages by job_id (newest first); nothing orders jobs by
-- created_at, and every insert into job (one per hold) paid for that index.
drop index job_kind_created_idx;
create index job_kind_id_idx on job (kind, job_id desc);
