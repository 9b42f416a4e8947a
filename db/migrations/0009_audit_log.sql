-- Who changed what, when, from what to what: every catalogue change and every booking state
-- change. Append-only: a trigger refuses UPDATE and DELETE, so even a bug (or a curious admin with
-- SQL) cannot rewrite history through the app's role; retention is a DBA's job (TRUNCATE or
-- partition drop, which the trigger does not see).
create table audit_log (
  audit_log_id  bigint generated always as identity constraint audit_log_pk primary key,
  occurred_at   timestamptz not null,
  -- Null for the system itself (jobs).
  actor_user_id bigint,
  action        text not null,
  entity        text not null,
  entity_id     bigint not null,
  before        jsonb,
  after         jsonb
);

create index audit_log_entity_idx on audit_log (entity, entity_id, audit_log_id desc);
create index audit_log_actor_idx on audit_log (actor_user_id, audit_log_id desc);

create function audit_log_is_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit_log is append-only' using errcode = 'insufficient_privilege';
end;
$$;

create trigger audit_log_append_only before update or delete on audit_log
  for each row execute function audit_log_is_append_only();
