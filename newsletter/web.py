"""HTTP routes of the newsletter: subscribe, confirm, unsubscribe. Mounted by app/web.py.

GET never changes anything: mail scanners and link previewers open every URL they see,
so both the confirmation link and the unsubscribe link lead to a page with a button, and
only the POST behind it acts. `POST /unsubscribe?token=…` is also the RFC 8058 one-click
endpoint (body `List-Unsubscribe=One-Click`): no cookie, no CSRF token, no second step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from core.config import Settings
from core.errors import DigestError
from core.model import Edition
from core.render import make_environment
from core.sources import DEFAULT_EDITION, load_sources
from newsletter import subscribers
from newsletter.confirmations import MAIL_WINDOW, ConfirmationMailer
from newsletter.smtp import SMTPSender
from newsletter.throttle import Throttle, client_key, mailbox_key

__all__ = ["MAX_FORM", "build_routes"]

log = logging.getLogger(__name__)


def build_routes(
    *,
    settings: Settings,
    engine: Engine,
    connect: Callable[[], SMTPSender] | None = None,
    clock: Callable[[], float] = time.monotonic,
    mailer: ConfirmationMailer | None = None,
) -> list[BaseRoute]:
    """Starlette routes for /subscribe, /confirm and /unsubscribe.

    `connect` makes the SMTP sender for confirmation mails (default: from SMTP_URL; with no
    SMTP_URL the confirmation link is logged, which is enough on a developer machine).
    `mailer` handles subscribe requests off the request (default: one of its own);
    `clock` drives the form's throttles.
    """
    settings.check_secret_key()  # `digest serve` with forgeable links stops here, in one line
    pages = _Pages(settings=settings, engine=engine, connect=connect, clock=clock, mailer=mailer)
    return [
        Route("/subscribe", pages.subscribe, methods=["GET", "POST"]),
        Route("/confirm", pages.confirm, methods=["GET", "POST"]),
        Route("/unsubscribe", pages.unsubscribe, methods=["GET", "POST"]),
    ]


# The form must not become a way to mail-bomb someone's mailbox, to burn the sender's
# reputation, or to shut real visitors out: one confirmation mail per mailbox per window
# (plus-aliases and dots folded), a few requests per client per window, and a ceiling on
# all confirmation mails that delays them rather than refusing anyone (ConfirmationMailer).
# Per web process, kept in memory.
PER_MAILBOX = 1
PER_CLIENT = 10


class _Pages:
    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        connect: Callable[[], SMTPSender] | None,
        clock: Callable[[], float],
        mailer: ConfirmationMailer | None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.mailboxes = Throttle(PER_MAILBOX, MAIL_WINDOW, clock=clock)
        self.clients = Throttle(PER_CLIENT, MAIL_WINDOW, clock=clock)
        self.mailer = mailer or ConfirmationMailer(
            settings=settings, engine=engine, connect=connect, clock=clock
        )
        if self.mailer.mailbox_throttle is None:
            self.mailer.mailbox_throttle = self.mailboxes
        self.editions = _editions(settings)
        self.source_counts = _source_counts(settings)

    # --- /subscribe -------------------------------------------------------------------

    async def subscribe(self, request: Request) -> Response:
        """Every address takes the same path and gets the same answer: check the syntax,
        count the client and the mailbox, queue the request. Nothing is stored or mailed
        here (see newsletter.confirmations), and nothing is stored when refusing."""
        if request.method != "POST":  # GET and HEAD (link checkers) change nothing
            return self._form_page(request, email="", error="")
        form = await _form(request)
        email = str(form.get("email") or "")
        editions = _chosen(form, self.editions)
        if not editions:
            return self._form_page(
                request, email=email, error="Pick at least one edition.", status_code=400
            )
        try:
            address = subscribers.normalise_email(email)
        except subscribers.InvalidEmailError:
            return self._form_page(
                request,
                email=email,
                chosen=editions,
                error="That does not look like an email address; please check it.",
                status_code=400,
            )
        client = client_key(request.client.host if request.client else None)
        if not self.clients.allow(client):
            log.info("subscribe throttled client=%s", client)
            return _message(
                "Please try again later",
                "Too many subscription requests have come from your network in the last "
                "few minutes. Nothing was recorded: submit the form again later.",
                status_code=429,
                error=True,
            )
        mailbox = mailbox_key(address)
        if self.mailboxes.allow(mailbox):
            if not self.mailer.submit(address, editions=editions):
                self.mailboxes.forget(mailbox)
                log.warning("subscribe queue full; request refused")
                return _message(
                    "Please try again later",
                    "We cannot take more subscription requests just now. Nothing was "
                    "recorded: submit the form again in a few minutes.",
                    status_code=503,
                    error=True,
                )
        else:  # mailed moments ago: say the same, mail nothing new, store nothing
            log.info("confirmation throttled mailbox")
        return _message(
            "Check your inbox",
            "If that address can receive mail, a confirmation link is on its way. "
            "Open it and press the button to start receiving the weekly rollup.",
        )

    def _form_page(
        self,
        request: Request,
        *,
        email: str,
        error: str,
        chosen: tuple[str, ...] = (),
        status_code: int = 200,
    ) -> HTMLResponse:
        return _page(
            "subscribe.html",
            status_code=status_code,
            action=request.url.path,
            email=email,
            error=error,
            editions=list(self.editions.values()),
            chosen=chosen or tuple(self.editions)[:1],
            source_counts=self.source_counts,
        )

    # --- /confirm ---------------------------------------------------------------------

    async def confirm(self, request: Request) -> Response:
        if request.method != "POST":  # GET and HEAD (link checkers) change nothing
            token = request.query_params.get("token", "")
            try:  # check it now (changing nothing) rather than after the button is pressed
                subscribers.read_confirm_token(self.settings, token)
            except subscribers.TokenError as exc:
                return _bad_link(exc, resubscribe=True)
            return _page(
                "button.html",
                title="Confirm your subscription",
                text="Press the button to start receiving the Engineering @ Scale weekly rollup.",
                action=request.url.path,
                token=token,
                extra={},
                button="Confirm subscription",
            )
        form = await _form(request)
        token = str(form.get("token") or request.query_params.get("token") or "")
        try:
            await run_in_threadpool(self._confirm, token)
        except subscribers.TokenError as exc:
            return _bad_link(exc, resubscribe=True)
        return _message(
            "You are subscribed",
            "Thank you. The next weekly rollup will arrive in your inbox; every issue "
            "carries a one-click unsubscribe link.",
        )

    def _confirm(self, token: str) -> None:
        with Session(self.engine, expire_on_commit=False) as session:
            subscribers.confirm(token, session=session, settings=self.settings)

    # --- /unsubscribe -----------------------------------------------------------------

    async def unsubscribe(self, request: Request) -> Response:
        if request.method != "POST":  # GET and HEAD (link checkers) change nothing
            token = request.query_params.get("token", "")
            try:
                subscribers.read_unsubscribe_token(self.settings, token)
            except subscribers.TokenError as exc:
                return _bad_link(exc)
            return _page(
                "button.html",
                title="Unsubscribe",
                text="Press the button and you will receive no more issues.",
                action=f"{request.url.path}?token={token}",
                token=token,
                extra={"List-Unsubscribe": "One-Click"},
                button="Unsubscribe",
            )
        form = await _form(request)
        token = str(request.query_params.get("token") or form.get("token") or "")
        try:
            await run_in_threadpool(self._unsubscribe, token)
        except subscribers.TokenError as exc:
            return _bad_link(exc)
        return _message(
            "You are unsubscribed",
            "You will receive no more issues. Changed your mind? You can subscribe again at any time.",
            link={"url": "/subscribe", "text": "Subscribe again"},
        )

    def _unsubscribe(self, token: str) -> None:
        with Session(self.engine, expire_on_commit=False) as session:
            subscribers.unsubscribe(token, session=session, settings=self.settings)


# --- editions ---------------------------------------------------------------------------


def _editions(settings: Settings) -> dict[str, Edition]:
    """The catalogue's editions, one checkbox each; just the default when it is unreadable."""
    try:
        editions = dict(load_sources(settings.sources_path).editions)
    except DigestError as exc:
        log.warning("subscribe form editions=unknown error=%r", str(exc))
        editions = {}
    return editions or {DEFAULT_EDITION: Edition(DEFAULT_EDITION, "Engineering @ Scale")}


def _source_counts(settings: Settings) -> dict[str, int]:
    """How many enabled feeds each edition reads, for the form's own description of it."""
    try:
        catalogue = load_sources(settings.sources_path)
    except DigestError:
        return {}
    counts: dict[str, int] = {}
    for source in catalogue.select():
        counts[source.edition] = counts.get(source.edition, 0) + 1
    return counts


def _chosen(form: dict[str, str], editions: dict[str, Edition]) -> tuple[str, ...]:
    """The editions ticked on the form (`edition-KEY` checkboxes), in catalogue order.

    A post without the form's `editions` marker (an older form, a script) asks for the
    first edition, as the form did before readers could choose.
    """
    if "editions" not in form:
        return tuple(editions)[:1]
    return tuple(key for key in editions if form.get(f"edition-{key}"))


# --- pages ------------------------------------------------------------------------------

MAX_FORM = 16_384  # bytes; app/http_guard.py stops a longer body as it streams


async def _form(request: Request) -> dict[str, str]:
    """Fields of a form-urlencoded body (our forms, and Gmail's one-click POST).

    Parsed here rather than with `request.form()` to avoid the python-multipart
    dependency: a multipart one-click POST still works, because the token is in the URL
    and RFC 8058 needs nothing from the body.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():  # counted as it arrives: never more than the limit
        body += chunk
        if len(body) > MAX_FORM:
            raise HTTPException(413, "Request body too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _page(name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = make_environment("web").get_template(f"web/newsletter/{name}").render(context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _bad_link(exc: Exception, *, resubscribe: bool = False) -> HTMLResponse:
    """The page for an expired, forged or mangled confirm/unsubscribe link (400)."""
    link = {"url": "/subscribe", "text": "Subscribe again"} if resubscribe else None
    return _message(
        "This link does not work", _sentence(exc), status_code=400, error=True, link=link
    )


def _message(
    title: str,
    *paragraphs: str,
    status_code: int = 200,
    error: bool = False,
    link: dict[str, str] | None = None,
) -> HTMLResponse:
    return _page(
        "message.html",
        status_code=status_code,
        title=title,
        paragraphs=paragraphs,
        error=error,
        link=link,
    )


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
