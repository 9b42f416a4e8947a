-- Notices an organizer sends to everyone booked on a show (a delay, a gate change).
create table show_notice (
  show_notice_id bigint generated always as identity constraint show_notice_pk primary key,
  show_id        bigint not null constraint show_notice_show_fk references show,
  subject        text not null constraint show_notice_subject_ck check (length(subject) between 1 and 200),
  message        text not null constraint show_notice_message_ck check (length(message) between 1 and 5000),
  created_by     bigint not null constraint show_notice_created_by_fk references app_user,
  created_at     timestamptz not null
);

-- Newsletter subscribers, double opt-in: pending until the emailed link is followed.
-- Links carry HMAC tokens derived from the id, so nothing secret is stored per subscriber.
create table newsletter_subscriber (
  newsletter_subscriber_id bigint generated always as identity constraint newsletter_subscriber_pk primary key,
  email           text not null,
  status          text not null default 'pending'
                  constraint newsletter_subscriber_status_ck check (status in ('pending', 'confirmed', 'unsubscribed')),
  created_at      timestamptz not null,
  confirmed_at    timestamptz,
  unsubscribed_at timestamptz
);

create unique index newsletter_subscriber_email_uq on newsletter_subscriber (lower(email));

-- One issue sent to every confirmed subscriber, in batches by a dispatch job that walks the
-- subscribers by id (cursor) and records its progress here.
create table newsletter_issue (
  newsletter_issue_id bigint generated always as identity constraint newsletter_issue_pk primary key,
  subject    text not null constraint newsletter_issue_subject_ck check (length(subject) between 1 and 200),
  body       text not null constraint newsletter_issue_body_ck check (length(body) between 1 and 50000),
  status     text not null default 'sending' constraint newsletter_issue_status_ck check (status in ('sending', 'queued')),
  queued     int not null default 0,
  cursor_id  bigint not null default 0,
  created_by bigint not null constraint newsletter_issue_created_by_fk references app_user,
  created_at timestamptz not null
);
