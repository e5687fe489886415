"""The notifier's pure rules: inbox transitions, privacy, retries, signatures, messages."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from services.notifier.domain.citizen import plan_citizen_update, routed_update, status_update
from services.notifier.domain.deadlines import DeadlineAlert, alert_due
from services.notifier.domain.directory import (
    AgencyContacts,
    DirectoryError,
    contact_changes,
    validate_directory,
)
from services.notifier.domain.idempotency import (
    RememberedAction,
    action_key,
    caller_scope,
    is_retry,
)
from services.notifier.domain.inbox import (
    InboxAction,
    InvalidTransitionError,
    MissingTextError,
    allowed_actions,
    apply_action,
)
from services.notifier.domain.messages import (
    Assignment,
    ReporterReply,
    assignment_email,
    assignment_sms,
    assignment_webhook,
    reply_email,
    reply_webhook,
    tanggal,
)
from services.notifier.domain.privacy import agency_view, reporter_words
from services.notifier.domain.retry import RetryPolicy, parse_retry_after
from services.notifier.domain.signature import sign
from shared.events import Actor, ActorKind, ComplaintStatus, ComplaintStatusChanged
from shared.idempotency import IdempotencyKey, IdempotencyKeyReusedError
from testkit.factories import complaint, complaint_received

NIK = "6371012345670001"


def test_the_inbox_goes_routed_acknowledged_followed_up_resolved() -> None:
    status = ComplaintStatus.ROUTED
    for action, note in (
        (InboxAction.ACKNOWLEDGE, None),
        (InboxAction.FOLLOW_UP, "Tim sudah meninjau lokasi"),
        (InboxAction.FOLLOW_UP, "Perbaikan dijadwalkan"),
        (InboxAction.RESOLVE, None),
    ):
        transition = apply_action(status, action, note)
        assert transition.previous == status
        status = transition.status
    assert status is ComplaintStatus.RESOLVED
    assert allowed_actions(status) == ()


def test_an_invalid_transition_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidTransitionError) as caught:
        apply_action(ComplaintStatus.ROUTED, InboxAction.RESOLVE)
    assert caught.value.allowed == (InboxAction.ACKNOWLEDGE, InboxAction.REJECT)
    with pytest.raises(InvalidTransitionError):
        apply_action(ComplaintStatus.FOLLOWED_UP, InboxAction.REJECT, "bukan wewenang")


def test_a_rejection_needs_a_reason_and_keeps_the_suggestion() -> None:
    with pytest.raises(MissingTextError):
        apply_action(ComplaintStatus.ROUTED, InboxAction.REJECT, "  ")
    with pytest.raises(MissingTextError):
        apply_action(ComplaintStatus.ACKNOWLEDGED, InboxAction.FOLLOW_UP)
    transition = apply_action(ComplaintStatus.ROUTED, InboxAction.REJECT, "jalan kota", "6371")
    assert transition.status is ComplaintStatus.REJECTED
    assert transition.suggested_agency_code == "6371"
    acknowledged = apply_action(ComplaintStatus.ROUTED, InboxAction.ACKNOWLEDGE, None, "6371")
    assert acknowledged.suggested_agency_code is None


def test_an_anonymous_complaint_shows_no_identity() -> None:
    view = agency_view(
        complaint(
            anonymous=True,
            body=f"Saya Siti Aminah, NIK {NIK}, HP 081255550101, jalan rusak.",
            reporter={"name": "Siti Aminah", "phone": "+62 812 5555 0101", "email": "s@a.id"},
        )
    )
    assert view.reporter is None
    rendered = json.dumps(assignment_webhook(_notice(view), public_channel=False))
    rendered += assignment_email(_notice(view)).text + assignment_email(_notice(view)).html
    for secret in ("Siti", "Aminah", NIK, "5555", "s@a.id"):
        assert secret not in rendered


def test_a_named_complaint_carries_the_reporter_to_the_agency_not_to_public_channels() -> None:
    view = agency_view(complaint())
    assert view.reporter is not None
    assert view.reporter.name == "Siti Aminah"
    assert "Siti Aminah" in assignment_email(_notice(view)).text
    assert "Siti" in json.dumps(assignment_webhook(_notice(view), public_channel=False))
    public = assignment_webhook(_notice(view), public_channel=True)
    assert public["complaint"]["reporter"] is None
    assert "Jalan berlubang" in public["complaint"]["title"]


def test_a_confidential_text_never_reaches_a_public_channel() -> None:
    view = agency_view(complaint(confidential=True, body="Dugaan pungli oleh oknum petugas."))
    public = assignment_webhook(_notice(view), public_channel=True)
    assert public["complaint"] is None
    assert public["confidential"] is True
    assert public["inbox_url"].startswith("http://")
    assert "pungli" not in json.dumps(public) + assignment_sms(_notice(view))
    private = assignment_webhook(_notice(view), public_channel=False)
    assert "pungli" in private["complaint"]["body"]
    email = assignment_email(_notice(view))
    assert email.subject.startswith("[RAHASIA]")
    assert "RAHASIA" in email.html


def test_the_email_speaks_indonesian_with_due_dates_and_link() -> None:
    email = assignment_email(_notice(agency_view(complaint(title="Lampu <jalan> mati"))))
    assert "Batas tindak lanjut: 12 Desember 2026" in email.text
    assert "http://127.0.0.1:8081/inbox" in email.text
    assert "Lampu &lt;jalan&gt; mati" in email.html
    assert tanggal(date(2026, 1, 5)) == "5 Januari 2026"


def _notice(view: object) -> Assignment:
    from services.notifier.domain.privacy import AgencyView

    assert isinstance(view, AgencyView)
    return Assignment(
        view=view,
        agency_code="63.pupr",
        agency_name="Dinas PUPR",
        disposition_due=date(2026, 12, 3),
        followup_due=date(2026, 12, 12),
        inbox_url="http://127.0.0.1:8081/inbox/assignments/X",
    )


def test_retries_back_off_exponentially_with_jitter_then_give_up() -> None:
    policy = RetryPolicy(
        max_attempts=5,
        initial=timedelta(seconds=10),
        ceiling=timedelta(seconds=60),
        rng=random.Random(7),
    )
    delays = [policy.after_failure(n).delay for n in range(1, 5)]
    ceilings = [10, 20, 40, 60]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert delay is not None
        assert ceiling / 2 <= delay.total_seconds() <= ceiling
    assert policy.after_failure(5).give_up
    assert policy.after_failure(1, permanent=True).give_up


def test_retry_after_is_honoured_up_to_the_ceiling() -> None:
    policy = RetryPolicy(initial=timedelta(seconds=1), ceiling=timedelta(minutes=5))
    assert policy.after_failure(1, retry_after=timedelta(seconds=120)).delay == timedelta(
        seconds=120
    )
    assert policy.after_failure(1, retry_after=timedelta(hours=3)).delay == timedelta(minutes=5)


def test_the_signature_is_hmac_sha256_over_timestamp_delivery_id_and_body() -> None:
    body = b'{"a":1}'
    signed = b"1700000000.3f6c2a9e-delivery." + body
    expected = hmac.new(b"s" * 16, signed, hashlib.sha256).hexdigest()
    assert sign("s" * 16, 1700000000, "3f6c2a9e-delivery", body) == f"sha256={expected}"
    # The same request under another delivery id is not the hub's.
    assert sign("s" * 16, 1700000000, "another-delivery", body) != f"sha256={expected}"


def _entry(code: str, **overrides: object) -> dict[str, object]:
    return {
        "code": code,
        "name": f"Instansi {code}",
        "emails": [f"penghubung@{code}.example"],
        "escalation_email": f"pimpinan@{code}.example",
        **overrides,
    }


def test_the_directory_lists_every_problem() -> None:
    known = {"63.pupr": "PUPR", "63.dishub": "Dishub", "6371": "Banjarmasin", "pusat": "Pusat"}
    with pytest.raises(DirectoryError) as caught:
        validate_directory(
            [
                _entry("63.pupr", emails=[]),
                _entry("63.nope"),
                _entry("6371", webhook={"url": "ftp://x", "secret": "short"}),
            ],
            known,
        )
    text = str(caught.value)
    assert "63.pupr" in text
    assert "emails" in text
    assert "63.nope" in text and "unknown agency" in text
    assert "webhook.url" in text and "webhook.secret" in text
    assert "no contacts for: 63.dishub" in text
    directory = validate_directory([_entry("63.pupr"), _entry("63.dishub"), _entry("6371")], known)
    assert set(directory) == {"63.pupr", "63.dishub", "6371"}


def test_the_shipped_directory_is_valid() -> None:
    from services.notifier.directory import load_directory
    from services.notifier.domain.targets import webhook_targets
    from shared.agencies import CENTRAL_AGENCY, agency_names

    directory = load_directory(environ={}, targets=webhook_targets("production", ""))
    assert set(directory) == set(agency_names()) - {CENTRAL_AGENCY}


@pytest.mark.parametrize(
    ("today", "status", "expected"),
    [
        (date(2026, 12, 8), ComplaintStatus.ROUTED, None),
        (date(2026, 12, 9), ComplaintStatus.ROUTED, DeadlineAlert.REMINDER),
        (date(2026, 12, 10), ComplaintStatus.ACKNOWLEDGED, DeadlineAlert.REMINDER),
        (date(2026, 12, 11), ComplaintStatus.ROUTED, DeadlineAlert.ESCALATION),
        (date(2026, 12, 20), ComplaintStatus.ACKNOWLEDGED, DeadlineAlert.ESCALATION),
        (date(2026, 12, 20), ComplaintStatus.FOLLOWED_UP, None),
        (date(2026, 12, 20), ComplaintStatus.REJECTED, None),
    ],
)
def test_reminders_come_the_working_day_before_escalations_the_one_after(
    today: date, status: ComplaintStatus, expected: DeadlineAlert | None
) -> None:
    assert alert_due(status, date(2026, 12, 10), today) is expected  # a Thursday


def test_deadlines_skip_weekends() -> None:
    """Due on a Friday: no escalation over the weekend, on Monday."""
    monday = date(2026, 11, 30)
    assert alert_due(ComplaintStatus.ROUTED, monday, date(2026, 11, 27)) is DeadlineAlert.REMINDER
    assert (
        alert_due(ComplaintStatus.ROUTED, date(2026, 11, 27), date(2026, 11, 29))
        is not DeadlineAlert.ESCALATION
    )
    assert alert_due(ComplaintStatus.ROUTED, date(2026, 11, 27), monday) is DeadlineAlert.ESCALATION


def test_the_reporter_hears_by_email_else_by_gateway_else_not_at_all() -> None:
    text = routed_update("LPR-1", "Dinas PUPR", date(2026, 12, 10))
    assert text.endswith("paling lambat 10 Desember 2026.")
    by_email = plan_citizen_update(
        complaint(reporter={"email": "warga@contoh.id", "phone": "0812555501"}, anonymous=True),
        text,
        key="k",
        sms_gateway_url="http://127.0.0.1:1/sms",
    )
    assert by_email is not None
    assert (by_email.channel, by_email.target) == ("email", "warga@contoh.id")
    by_sms = plan_citizen_update(
        complaint(reporter={"phone": "0812555501"}), text, key="k", sms_gateway_url="http://g/sms"
    )
    assert by_sms is not None
    assert by_sms.payload["body"] == {"type": "citizen.update", "to": "0812555501", "text": text}
    assert by_sms.delivery_id != by_email.delivery_id
    no_gateway = plan_citizen_update(
        complaint(reporter={"phone": "0812555501"}), text, key="k", sms_gateway_url=None
    )
    assert no_gateway is None
    assert plan_citizen_update(complaint(reporter={}), text, key="k", sms_gateway_url="x") is None


def test_the_reporter_hears_of_follow_ups_and_resolution_only() -> None:
    followed = status_update("LPR-1", "Dinas PUPR", ComplaintStatus.FOLLOWED_UP, "Sudah ditambal.")
    assert followed == "Dinas PUPR telah menindaklanjuti pengaduan Anda LPR-1: Sudah ditambal."
    resolved = status_update("LPR-1", "Dinas PUPR", ComplaintStatus.RESOLVED, None)
    assert resolved == "Pengaduan Anda LPR-1 telah dinyatakan selesai oleh Dinas PUPR."
    assert status_update("LPR-1", "Dinas PUPR", ComplaintStatus.ACKNOWLEDGED, None) is None


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == timedelta(seconds=120)
    assert parse_retry_after("Sat, 28 Nov 2026 08:01:30 GMT", now) == timedelta(seconds=90)
    assert parse_retry_after("Sat, 28 Nov 2026 07:00:00 GMT", now) == timedelta(0)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_a_contact_change_is_told_in_words_without_any_secret_or_webhook_path() -> None:
    hook = {"url": "https://hook.dinas.example/lapor?token=abc", "secret": "s" * 16}
    before = AgencyContacts.model_validate(_entry("63.pupr", webhook=hook))
    same = AgencyContacts.model_validate(_entry("63.pupr", webhook=hook))
    after = AgencyContacts.model_validate(
        _entry(
            "63.pupr",
            emails=["baru@pupr.example"],
            webhook={**hook, "url": "https://lain.example:8443/h", "secret": "t" * 16},
        )
    )
    rotated = AgencyContacts.model_validate(_entry("63.pupr", webhook={**hook, "secret": "u" * 16}))
    assert contact_changes(before, same) == []
    assert contact_changes(before, after) == [
        "E-mail pejabat penghubung: penghubung@63.pupr.example -> baru@pupr.example",
        "Webhook: https://hook.dinas.example -> https://lain.example:8443",
    ]
    assert contact_changes(before, rotated) == ["Webhook: kunci rahasia (secret) diganti"]
    assert contact_changes(rotated, rotated.model_copy(update={"webhook": None})) == [
        "Webhook: https://hook.dinas.example -> tidak ada"
    ]


# --- idempotency keys of inbox actions ---------------------------------------------------------


def _remembered(key: IdempotencyKey, at: datetime) -> RememberedAction:
    return RememberedAction(key.fingerprint, at, assignment_id=7, status=ComplaintStatus.ROUTED)


def test_an_action_key_is_a_retry_only_for_the_same_request_within_the_window() -> None:
    now = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
    window = timedelta(hours=24)
    key = action_key("k", "LPR-1", InboxAction.FOLLOW_UP, "Sudah ditambal.", None)
    assert not is_retry(key, None, now=now, window=window)
    recent = _remembered(key, now - timedelta(hours=23))
    assert is_retry(key, recent, now=now, window=window)
    assert not is_retry(key, _remembered(key, now - window), now=now, window=window)
    for other in (
        action_key("k", "LPR-1", InboxAction.FOLLOW_UP, "Isi lain.", None),
        action_key("k", "LPR-2", InboxAction.FOLLOW_UP, "Sudah ditambal.", None),
        action_key("k", "LPR-1", InboxAction.RESOLVE, "Sudah ditambal.", None),
        action_key("k", "LPR-1", InboxAction.FOLLOW_UP, "Sudah ditambal.", ""),
    ):
        with pytest.raises(IdempotencyKeyReusedError, match="different request"):
            is_retry(other, recent, now=now, window=window)


def test_keys_are_scoped_to_the_staff_account_or_the_api_key() -> None:
    assert caller_scope("rina", 5) == "staff:5"
    assert caller_scope("pupr-app", None) == "api-key:pupr-app"
    assert caller_scope("5", None) != caller_scope("x", 5)


@pytest.mark.parametrize(
    ("url", "environment", "allowed", "problem"),
    [
        ("https://hook.dinas.example/x", "production", "", None),
        ("http://hook.dinas.example/x", "production", "", "only https outside development"),
        ("http://hook.dinas.example/x", "development", "", None),
        ("https://169.254.169.254/latest", "production", "", "private"),
        ("https://100.64.0.1/", "production", "", "private"),
        ("https://[::ffff:10.0.0.1]/", "production", "", "private"),
        ("https://[fe80::1]/", "production", "", "private"),
        ("https://LOCALHOST./", "production", "", "private"),
        ("https://10.20.30.40/hook", "production", "10.20.0.0/16", None),
        ("https://10.21.0.1/hook", "production", "10.20.0.0/16", "private"),
        ("ftp://hook.dinas.example/", "development", "", "only http or https"),
    ],
)
def test_webhook_targets_refuse_what_is_not_public(
    url: str, environment: str, allowed: str, problem: str | None
) -> None:
    from services.notifier.domain.targets import webhook_targets

    found = webhook_targets(environment, allowed).url_problem(url)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_a_rating_is_told_to_the_agency_as_a_rating_with_its_mark() -> None:
    received = complaint_received()
    rated = ComplaintStatusChanged(
        **received.caused(
            producer="intake",
            tracking_number=received.complaint.tracking_number,
            status=ComplaintStatus.RATED,
            actor=Actor(kind=ActorKind.REPORTER, id="web"),
            rating=5,
        )
    )
    assert reporter_words(rated) == "Penilaian pelapor: 5/5"  # the mark without a comment
    commented = rated.model_copy(update={"note": "Penilaian pelapor: 5/5. Cepat"})
    assert reporter_words(commented) == "Penilaian pelapor: 5/5. Cepat"
    notice = ReporterReply("LPR-1", "63.pupr", "Penilaian pelapor: 5/5", True, "https://x/1", 5)
    assert reply_webhook(notice, public_channel=False)["type"] == "complaint.rated"
    hidden = reply_webhook(notice, public_channel=True)
    assert hidden["rating"] == 5 and hidden["text"] is None  # confidential, public channel
    assert "Penilaian pelapor atas pengaduan LPR-1" in reply_email(notice).subject
