"""The agency web inbox's pure rules: passwords, the login throttle, the order of the list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.notifier.domain.staff import (
    LoginThrottle,
    hash_password,
    inbox_order,
    is_overdue,
    password_matches,
    password_problem,
    username_problem,
)
from shared.events import ComplaintStatus

TODAY = date(2026, 12, 7)


def test_a_password_is_stored_as_an_argon2id_hash_and_checked_against_it() -> None:
    stored = hash_password("kata-sandi-panjang")
    assert stored.startswith("$argon2id$") and "kata-sandi" not in stored
    assert password_matches(stored, "kata-sandi-panjang")
    assert not password_matches(stored, "kata-sandi-lain!")
    assert not password_matches(None, "kata-sandi-panjang")  # unknown account
    assert not password_matches("not a hash", "kata-sandi-panjang")


def test_short_or_padded_passwords_and_odd_usernames_are_refused() -> None:
    assert password_problem("pendek") is not None
    assert password_problem(" spasi-di-depan ") is not None
    assert password_problem("cukup-panjang-2026") is None
    assert username_problem("rina.hartati") is None
    assert username_problem("Rina") is not None
    assert username_problem("-rina") is not None
    assert username_problem("r") is not None


def test_failed_logins_lock_the_account_for_the_window_and_a_success_clears_them() -> None:
    throttle = LoginThrottle(per_account=3, per_address=10, window_s=60)
    for second in range(3):
        assert throttle.wait_s("rina", "10.0.0.1", second) == 0
        throttle.failed("rina", "10.0.0.1", second)
    assert throttle.wait_s("rina", "10.0.0.9", 3) == 57  # another address: the account is locked
    assert throttle.wait_s("dodi", "10.0.0.1", 3) == 0  # another account from the same address
    assert throttle.wait_s("rina", "10.0.0.1", 61) == 0  # the oldest failure left the window
    throttle.succeeded("rina")
    assert throttle.wait_s("rina", "10.0.0.1", 3) == 0


def test_one_address_trying_many_accounts_is_locked_out() -> None:
    throttle = LoginThrottle(per_account=5, per_address=4, window_s=900)
    for n in range(4):
        throttle.failed(f"user{n}", "10.0.0.1", n)
    assert throttle.wait_s("user9", "10.0.0.1", 10) == 900 - 10
    assert throttle.wait_s("user9", "10.0.0.2", 10) == 0


@dataclass(frozen=True)
class Item:
    tracking_number: str
    status: ComplaintStatus
    followup_due: date


def test_overdue_first_then_open_by_deadline_then_closed() -> None:
    items = [
        Item("A", ComplaintStatus.RESOLVED, date(2026, 12, 1)),
        Item("B", ComplaintStatus.ROUTED, date(2026, 12, 10)),
        Item("C", ComplaintStatus.ACKNOWLEDGED, date(2026, 12, 5)),
        Item("D", ComplaintStatus.FOLLOWED_UP, date(2026, 12, 2)),  # followed up: not late
        Item("E", ComplaintStatus.ROUTED, date(2026, 12, 3)),
        Item("F", ComplaintStatus.ROUTED, date(2026, 12, 8)),
    ]
    assert [i.tracking_number for i in inbox_order(items, TODAY)] == ["E", "C", "D", "F", "B", "A"]


def test_overdue_is_past_the_follow_up_date_without_a_follow_up() -> None:
    assert is_overdue(ComplaintStatus.ROUTED, date(2026, 12, 6), TODAY)
    assert not is_overdue(ComplaintStatus.ROUTED, TODAY, TODAY)  # due today is not yet late
    assert not is_overdue(ComplaintStatus.FOLLOWED_UP, date(2026, 12, 1), TODAY)
