-- Issue 17: reminders per show, not per booking (docs/decisions/0033-reminders-per-show.md). A show's
-- reminder round is one reminder.show job per offset, scheduled by its first confirmed booking;
-- when it falls due it queues a reminder.send job, due at once, for each booking then confirmed. A
-- booking used to insert its own reminder.send job per offset: two job rows with their index
-- entries (12 WAL records) in every confirmation, and two waiting rows per booking in the job table.

-- Moving or cancelling a show finds the waiting reminders of both kinds by the show id in their
-- payload (ReminderSchedule's statements name both kinds exactly as this predicate does).
create index job_reminders_by_show_idx on job (((payload->>'show_id')::bigint))
  where kind in ('reminder.send', 'reminder.show') and state in ('available', 'retryable');
drop index job_reminder_show_idx;

-- Reminders already scheduled per booking become their show's rounds, so no booking is reminded
-- twice (by its old job and by the round). Only jobs not yet tried are converted: a retryable one
-- has already fallen due, and a round due at its retry time would remind the whole show again.
-- The payload, unique key, queue, priority and attempts are ShowReminderArgs' as of this migration.
insert into job (kind, queue, priority, payload, run_at, unique_key, max_attempts, created_at)
select 'reminder.show', 'default', 2, jsonb_build_object('show_id', r.show_id, 'offset_hours', r.offset_hours), min(r.run_at),
       'reminder-show:' || r.show_id || ':' || r.offset_hours, 10, now()
from (
  select (payload->>'show_id')::bigint as show_id, (payload->>'offset_hours')::int as offset_hours, run_at
  from job
  where kind = 'reminder.send' and state = 'available' and attempt = 0 and run_at > now()
) r
group by r.show_id, r.offset_hours
on conflict (kind, unique_key) where unique_key is not null and state in ('available', 'running', 'retryable') do nothing;

update job set state = 'cancelled', finalized_at = now()
where kind = 'reminder.send' and state = 'available' and attempt = 0 and run_at > now();
