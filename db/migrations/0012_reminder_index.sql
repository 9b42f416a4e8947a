-- Moving or cancelling a show finds its waiting reminders by the show id in their payload.
create index job_reminder_show_idx on job (((payload->>'show_id')::bigint))
  where kind = 'reminder.send' and state in ('available', 'retryable');
