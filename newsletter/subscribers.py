"""The subscription life-cycle: subscribe, confirm (double opt-in), unsubscribe, import.

Tokens are signed with SECRET_KEY (itsdangerous) and carry the subscriber id plus a short
fingerprint of the address, never the address itself, so a link in a forwarded mail leaks
nothing and a token stops working if the row is re-used for another address. Confirmation
tokens expire (CONFIRM_TTL); unsubscribe tokens never do, because a link in a years-old
issue must still work (RFC 8058 asks for unsubscribes that always succeed).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlmodel import Session

from core.config import Settings
from core.errors import DigestError
from storage import subscribers as store
from storage.tables import Subscriber, utcnow

__all__ = [
    "CONFIRM_TTL",
    "ImportReport",
    "InvalidEmailError",
    "SubscribeResult",
    "TokenError",
    "confirm",
    "confirm_token",
    "confirm_url",
    "confirmation_message",
    "expire_pending",
    "import_csv",
    "mailto_unsubscribe",
    "normalise_email",
    "read_confirm_token",
    "read_unsubscribe_token",
    "subscribe",
    "unsubscribe",
    "unsubscribe_token",
    "unsubscribe_url",
]

log = logging.getLogger(__name__)

CONFIRM_TTL = timedelta(days=7)
_CONFIRM_SALT = "newsletter-confirm"
_UNSUBSCRIBE_SALT = "newsletter-unsubscribe"


class InvalidEmailError(DigestError):
    """An address that cannot receive mail (bad syntax, no domain, …)."""


class TokenError(DigestError):
    """A confirmation or unsubscribe link that is forged, damaged or expired."""


# --- addresses --------------------------------------------------------------------------


def normalise_email(text: str) -> str:
    """The canonical form of an address, or `InvalidEmailError` in plain words.

    email-validator checks the syntax and normalises the domain (IDNA, case); we also
    lower-case the local part because every mainstream provider treats it case-blind and
    `Alice@x` / `alice@x` should be one subscriber, not two (listmonk does the same).
    No DNS lookup: the double opt-in mail is the real deliverability check.

    ```
    >>> normalise_email(" Alice@Example.COM ")
    'alice@example.com'
    ```
    """
    try:
        info = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmailError(f"{text.strip()!r} is not a valid email address: {exc}") from None
    return info.normalized.lower()


def _fingerprint(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:10]


# --- tokens -----------------------------------------------------------------------------


def _timed(settings: Settings) -> URLSafeTimedSerializer:
    settings.check_secret_key()  # never sign or trust links with the public default key
    return URLSafeTimedSerializer(settings.secret_key, salt=_CONFIRM_SALT)


def _untimed(settings: Settings) -> URLSafeSerializer:
    settings.check_secret_key()
    return URLSafeSerializer(settings.secret_key, salt=_UNSUBSCRIBE_SALT)


def confirm_token(
    settings: Settings, subscriber: Subscriber, *, editions: Sequence[str] | None = None
) -> str:
    """The signed confirmation token; with `editions`, confirming also switches the
    subscriber to them (a confirmed reader asking for other editions)."""
    serializer = _timed(settings)
    value: list[object] = [subscriber.id, _fingerprint(subscriber.email)]
    if editions is not None:
        value.append(list(editions))
    return str(serializer.dumps(value))


def unsubscribe_token(settings: Settings, subscriber_id: int, email: str) -> str:
    serializer = _untimed(settings)
    return str(serializer.dumps([subscriber_id, _fingerprint(email)]))


def confirm_url(
    settings: Settings, subscriber: Subscriber, *, editions: Sequence[str] | None = None
) -> str:
    token = confirm_token(settings, subscriber, editions=editions)
    return f"{settings.public_base_url.rstrip('/')}/confirm?token={token}"


def unsubscribe_url(settings: Settings, subscriber_id: int, email: str) -> str:
    token = unsubscribe_token(settings, subscriber_id, email)
    return f"{settings.public_base_url.rstrip('/')}/unsubscribe?token={token}"


def read_confirm_token(
    settings: Settings,
    token: str,
    *,
    max_age: timedelta = CONFIRM_TTL,
    now: datetime | None = None,
) -> tuple[int, str]:
    """(subscriber id, address fingerprint) from a confirmation token, or `TokenError`."""
    subscriber_id, fingerprint, _editions = _read_confirm(settings, token, max_age, now)
    return subscriber_id, fingerprint


def _read_confirm(
    settings: Settings, token: str, max_age: timedelta, now: datetime | None
) -> tuple[int, str, tuple[str, ...] | None]:
    serializer = _timed(settings)
    try:
        if now is None:
            value = serializer.loads(token, max_age=max_age.total_seconds())
        else:  # tests and replays pass a clock; itsdangerous reads time.time() itself
            value, signed_at = serializer.loads(token, return_timestamp=True)
            if now - signed_at > max_age:
                raise SignatureExpired("expired")
    except SignatureExpired:
        raise TokenError(
            "this confirmation link has expired; subscribe again to get a new one"
        ) from None
    except BadSignature:
        raise TokenError("this confirmation link is not valid (damaged or forged)") from None
    editions = None
    if isinstance(value, list) and len(value) == 3:  # an edition change: [id, fp, editions]
        *value, chosen = value
        if (
            not isinstance(chosen, list)
            or not chosen
            or not all(isinstance(e, str) for e in chosen)
        ):
            raise TokenError("this confirmation link is not valid (damaged or forged)")
        editions = tuple(chosen)
    return (*_pair(value, "confirmation"), editions)


def read_unsubscribe_token(settings: Settings, token: str) -> tuple[int, str]:
    """(subscriber id, address fingerprint) from an unsubscribe token, or `TokenError`."""
    serializer = _untimed(settings)
    try:
        value = serializer.loads(token)
    except BadSignature:
        raise TokenError("this unsubscribe link is not valid (damaged or forged)") from None
    return _pair(value, "unsubscribe")


def _pair(value: object, kind: str) -> tuple[int, str]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or not isinstance(value[1], str)
    ):
        raise TokenError(f"this {kind} link is not valid (damaged or forged)")
    return value[0], value[1]


def _subscriber_for(session: Session, subscriber_id: int, fingerprint: str) -> Subscriber | None:
    row = store.get(session=session, subscriber_id=subscriber_id)
    if row is None or _fingerprint(row.email) != fingerprint:
        return None
    return row


# --- life-cycle -------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscribeResult:
    subscriber: Subscriber
    needs_confirmation: bool  # send (or re-send) the double opt-in mail
    # A confirmed reader asking for other editions: the mail's link switches them.
    editions: tuple[str, ...] | None = None


def subscribe(
    email: str,
    *,
    session: Session,
    editions: Sequence[str],
    now: datetime | None = None,
) -> SubscribeResult:
    """Record a subscription request; the address receives nothing until it is confirmed.

    New, pending, unsubscribed and bounced addresses (re)enter `pending` with the
    `editions` chosen now and need a confirmation mail: someone who left must opt in again,
    and a form submission must never re-enable an address on its own. A confirmed address
    is left as it is: asking for other editions mails a link that switches them when
    pressed (`result.editions`), because a form anyone can fill in must not change what
    someone else's inbox receives. Raises `InvalidEmailError`.
    """
    address = normalise_email(email)
    row, _created = store.upsert_pending(session=session, email=address, editions=editions, now=now)
    if row.status == "confirmed":
        if store.editions_of(row) == tuple(editions):
            return SubscribeResult(row, needs_confirmation=False)
        return SubscribeResult(row, needs_confirmation=True, editions=tuple(editions))
    never_confirmed = row.confirmed_at is None and row.unsubscribed_at is None
    if row.status != "pending" or (not _created and never_confirmed):
        # a new request (never confirmed): its link lives CONFIRM_TTL from now
        requested = (now or utcnow()) if never_confirmed else None
        store.set_status(session=session, subscriber=row, status="pending", requested_at=requested)
    if store.editions_of(row) != tuple(editions):
        store.set_editions(session=session, subscriber=row, editions=editions)
    log.info("subscribe subscriber=%s status=pending", row.id)
    return SubscribeResult(row, needs_confirmation=True)


def expire_pending(
    *, session: Session, now: datetime | None = None, max_age: timedelta = CONFIRM_TTL
) -> int:
    """Delete the subscription requests nobody confirmed within their link's lifetime.

    Only rows that were never anything but pending go: their confirmation link has
    expired, so nothing can confirm them any more, and keeping them would let a flood of
    form posts grow the table for ever. An address that subscribed before keeps its row
    (and its history). Returns how many were deleted. Commits.
    """
    cutoff = (now or utcnow()) - max_age
    deleted = store.delete_never_confirmed(session=session, before=cutoff)
    if deleted:
        log.info("expired pending subscriptions=%d older_than=%s", deleted, cutoff.isoformat())
    return deleted


def confirm(
    token: str,
    *,
    session: Session,
    settings: Settings,
    now: datetime | None = None,
    max_age: timedelta = CONFIRM_TTL,
) -> Subscriber:
    """Confirm the subscriber a token names (idempotent). Raises `TokenError`.

    Only a pending subscriber is confirmed: an old confirmation link must not undo a
    later unsubscribe. A link that carries editions switches a confirmed subscriber to them.
    """
    subscriber_id, fingerprint, editions = _read_confirm(settings, token, max_age, now)
    row = _subscriber_for(session, subscriber_id, fingerprint)
    if row is None:
        raise TokenError("this confirmation link is not valid (no such subscription)")
    if row.status == "confirmed":
        if editions is not None and store.editions_of(row) != editions:
            log.info("editions changed subscriber=%s editions=%s", row.id, ",".join(editions))
            store.set_editions(session=session, subscriber=row, editions=editions)
        return row
    if row.status != "pending":
        raise TokenError("this confirmation link is no longer valid; subscribe again")
    return store.set_status(session=session, subscriber=row, status="confirmed", now=now)


def unsubscribe(
    token: str, *, session: Session, settings: Settings, now: datetime | None = None
) -> Subscriber | None:
    """Unsubscribe the subscriber a token names, at once and idempotently.

    Returns None when the subscriber no longer exists (the page still says "done": there
    is nothing left to mail). Raises `TokenError` for a forged or damaged token.
    """
    subscriber_id, fingerprint = read_unsubscribe_token(settings, token)
    row = _subscriber_for(session, subscriber_id, fingerprint)
    if row is None:
        return None
    if row.status in ("unsubscribed", "bounced"):
        return row
    log.info("unsubscribe subscriber=%s", row.id)
    return store.set_status(session=session, subscriber=row, status="unsubscribed", now=now)


def confirmation_message(
    subscriber: Subscriber,
    *,
    settings: Settings,
    now: datetime | None = None,
    editions: Sequence[str] | None = None,
) -> EmailMessage:
    """The double opt-in mail: one link to a page whose button confirms.

    The link opens a page rather than confirming on GET because mail scanners fetch every
    link they see; only the POST behind the button changes anything. With `editions` it
    asks a confirmed subscriber to confirm receiving those editions instead.
    """
    now = now or utcnow()
    link = confirm_url(settings, subscriber, editions=editions)
    asked = (
        f"asked to receive the Engineering @ Scale weekly editions {', '.join(editions)}\n"
        if editions is not None
        else "asked to receive the Engineering @ Scale weekly rollup\n"
    )
    unchanged = "nothing changes" if editions is not None else "you will receive nothing else"
    message = EmailMessage()
    message["From"] = settings.mail_from_header
    message["To"] = subscriber.email
    message["Subject"] = "Confirm your subscription to Engineering @ Scale"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=settings.mail_domain)
    message["Auto-Submitted"] = "auto-generated"
    days = CONFIRM_TTL.days
    message.set_content(
        f"Someone (hopefully you) {asked}"
        f"at {subscriber.email}.\n\n"
        f"To confirm, open this link and press the button (valid for {days} days):\n\n"
        f"{link}\n\n"
        f"If this was not you, ignore this mail: {unchanged}.\n"
    )
    return message


# --- import -----------------------------------------------------------------------------


@dataclass
class ImportReport:
    added: int = 0
    existing: int = 0
    duplicates: int = 0  # the same address twice in the file
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, value, reason)


def import_csv(
    path: str | Path,
    *,
    session: Session,
    edition: str,
    now: datetime | None = None,
) -> ImportReport:
    """Bring in an existing, already-confirmed list: a CSV file with an `email` column.

    Invalid addresses are reported by line and skipped; addresses already known keep their
    state (an import never re-subscribes someone who left). Raises `DigestError` when the
    file cannot be read or has no `email` column.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DigestError(f"cannot read {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    column = next((n for n in reader.fieldnames or () if n.strip().lower() == "email"), None)
    if column is None:
        raise DigestError(f"{path}: no 'email' column in the header line")
    report = ImportReport()
    seen: dict[str, None] = {}
    for row in reader:
        raw = (row.get(column) or "").strip()
        if not raw:
            continue
        try:
            address = normalise_email(raw)
        except InvalidEmailError as exc:
            reason = str(exc).split(": ", 1)[-1]
            report.invalid.append((reader.line_num, raw, reason))
            continue
        if address in seen:
            report.duplicates += 1
            continue
        seen[address] = None
    report.added, report.existing = store.add_confirmed(
        session=session, emails=seen, editions=(edition,), now=now
    )
    return report


def mailto_unsubscribe(settings: Settings, token: str) -> str:
    """The mailto: half of List-Unsubscribe (RFC 2369), naming the token in the subject."""
    return f"mailto:{settings.mail_from_address}?subject={quote('unsubscribe ' + token)}"
