-- Access tokens end with their session. Every app node remembers, per account and session, whether
-- the session is live and what the account's role is, so its bearer-token check costs no query on a
-- hit (src/Infrastructure/Auth/SessionGate.cs). It forgets an account when it hears the account's id
-- on the holdfast_sessions channel. These triggers send that id from the transaction that revokes a
-- session or changes a role, so it is delivered at commit, to every node, whoever made the change: a
-- slice, the grant-role command, or an operator in psql. No writer can forget to.
--
-- Unlike the seat feed (decision 0009), this notifies inside the transaction: a missed seat
-- announcement only delays events the listeners can still read, but a missed revocation would let a
-- revoked token in. These changes are rare (logins end, roles change), so the commit serialization a
-- notification costs does not touch the hot paths; refresh-token rotation (used_at) sends nothing.
-- docs/decisions/0016-access-tokens-end-with-their-session.md
create function session_changed_notify() returns trigger
language plpgsql
as $$
begin
  -- PostgreSQL delivers identical payloads of one transaction once: revoking every session of an
  -- account (a password change, a role change) sends one notification.
  perform pg_notify('holdfast_sessions', (case when tg_op = 'DELETE' then old.app_user_id else new.app_user_id end)::text);
  return null;
end;
$$;

-- A session (refresh-token family) ends when its tokens are revoked.
create trigger refresh_token_revoked_notify
  after update of revoked_at on refresh_token
  for each row when (old.revoked_at is null and new.revoked_at is not null)
  execute function session_changed_notify();

-- A session whose rows are gone is not live either.
create trigger refresh_token_deleted_notify
  after delete on refresh_token
  for each row execute function session_changed_notify();

-- Tokens carry the role they were issued with; a token whose role is no longer the account's is refused.
create trigger app_user_role_changed_notify
  after update of role on app_user
  for each row when (old.role is distinct from new.role)
  execute function session_changed_notify();

create trigger app_user_deleted_notify
  after delete on app_user
  for each row execute function session_changed_notify();
