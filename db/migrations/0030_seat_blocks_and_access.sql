-- Issue 15 (seats): seats blocked in a venue's layout, accessible seats, and why a show's seat is
-- blocked (docs/decisions/0025-seat-blocks-best-available-accessible-seats.md).

-- A seat of the layout that new shows stock as 'blocked' (a broken seat, a house or crew seat).
-- Shows already stocked keep their own state: an organizer blocks per show.
alter table seat add column blocked boolean not null default false;

-- A wheelchair space, or a companion seat beside one. Best-available offers these only to a party
-- that asks for accessible seats, and every seat of the layout without it only to one that does not.
alter table seat add column access text constraint seat_access_ck check (access in ('wheelchair', 'companion'));

-- Why a show's seat is blocked, while it is (the audit log keeps the history). The state itself
-- stays in show_seat.state, whose check already allows 'blocked'; this row only explains it.
create table show_seat_block (
  show_id           bigint not null,
  seat_id           bigint not null,
  reason            text not null constraint show_seat_block_reason_ck check (length(reason) between 1 and 200),
  blocked_by_app_user_id bigint constraint show_seat_block_blocked_by_fk references app_user,
  blocked_at        timestamptz not null,
  constraint show_seat_block_pk primary key (show_id, seat_id),
  constraint show_seat_block_show_seat_fk foreign key (show_id, seat_id) references show_seat on delete cascade
);
