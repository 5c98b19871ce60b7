"""HTTP routes of the newsletter: subscribe, confirm, unsubscribe. Mounted by app/web.py.

GET never changes anything: mail scanners and link previewers open every URL they see,
so both the confirmation link and the unsubscribe link lead to a page with a button, and
only the POST behind it acts. `POST /unsubscribe?token=…` is also the RFC 8058 one-click
endpoint (body `List-Unsubscribe=One-Click`): no cookie, no CSRF token, no second step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from core.config import Settings
from core.errors import DigestError
from core.model import Edition
from core.render import TEMPLATES
from core.sources import load_sources
from newsletter import subscribers
from newsletter.smtp import MailError, SMTPSender

__all__ = ["build_routes"]

log = logging.getLogger(__name__)


def build_routes(
    *,
    settings: Settings,
    engine: Engine,
    connect: Callable[[], SMTPSender] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[BaseRoute]:
    """Starlette routes for /subscribe, /confirm and /unsubscribe.

    `connect` makes the SMTP sender for confirmation mails (default: from SMTP_URL; with no
    SMTP_URL the confirmation link is logged, which is enough on a developer machine).
    """
    pages = _Pages(settings=settings, engine=engine, connect=connect, clock=clock)
    return [
        Route("/subscribe", pages.subscribe, methods=["GET", "POST"]),
        Route("/confirm", pages.confirm, methods=["GET", "POST"]),
        Route("/unsubscribe", pages.unsubscribe, methods=["GET", "POST"]),
    ]


# The form must not become a way to mail-bomb someone else's address or to burn the
# sender's reputation: one confirmation mail per address per window, and a ceiling on all
# confirmation mails per window (per web process; kept in memory).
MAIL_WINDOW = 600.0
MAILS_PER_WINDOW = 100


class _Pages:
    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        connect: Callable[[], SMTPSender] | None,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.connect = connect
        self.clock = clock
        self._mailed: dict[str, float] = {}  # address → when its confirmation was mailed
        self._lock = threading.Lock()
        self.editions = _editions(settings)

    def _may_mail(self, address: str) -> bool | None:
        """True: mail it; False: this address was mailed moments ago (say nothing new);
        None: too many confirmation mails overall just now (ask to come back later)."""
        now = self.clock()
        with self._lock:
            for key in [k for k, t in self._mailed.items() if now - t >= MAIL_WINDOW]:
                del self._mailed[key]
            if address in self._mailed:
                return False
            if len(self._mailed) >= MAILS_PER_WINDOW:
                return None
            self._mailed[address] = now
            return True

    # --- /subscribe -------------------------------------------------------------------

    async def subscribe(self, request: Request) -> Response:
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
            needs_mail = await run_in_threadpool(self._subscribe, email, editions)
        except subscribers.InvalidEmailError:
            return self._form_page(
                request,
                email=email,
                chosen=editions,
                error="That does not look like an email address; please check it.",
                status_code=400,
            )
        except MailError as exc:
            log.warning("confirmation mail failed error=%s", exc)
            return _message(
                "Please try again later",
                "We could not send the confirmation mail just now. Nothing was lost: "
                "submit the form again in a few minutes.",
                status_code=503,
                error=True,
            )
        # The same answer whether the address was new, pending or already confirmed, so
        # the form cannot be used to find out who subscribes.
        del needs_mail
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
        )

    def _subscribe(self, email: str, editions: tuple[str, ...]) -> bool:
        with Session(self.engine, expire_on_commit=False) as session:
            result = subscribers.subscribe(email, session=session, editions=editions)
        if result.needs_confirmation:
            allowed = self._may_mail(result.subscriber.email)
            if allowed is None:
                raise MailError("too many confirmation mails just now", disconnected=True)
            if not allowed:
                log.info("confirmation throttled subscriber=%s", result.subscriber.id)
                return True
            message = subscribers.confirmation_message(result.subscriber, settings=self.settings)
            if self.connect is None and not self.settings.smtp_url:
                log.warning(
                    "SMTP_URL is not set; confirmation link for subscriber=%s: %s",
                    result.subscriber.id,
                    subscribers.confirm_url(self.settings, result.subscriber),
                )
            else:
                connect = self.connect or (lambda: SMTPSender.from_url(self.settings.smtp_url))
                try:
                    with connect() as sender:
                        sender.send_message(message)
                except MailError:
                    with self._lock:  # not mailed after all: a retry must not be throttled
                        self._mailed.pop(result.subscriber.email, None)
                    raise
        return result.needs_confirmation

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

DEFAULT_EDITION = "tech"


def _editions(settings: Settings) -> dict[str, Edition]:
    """The catalogue's editions, one checkbox each; just the default when it is unreadable."""
    try:
        editions = dict(load_sources(settings.sources_path).editions)
    except DigestError as exc:
        log.warning("subscribe form editions=unknown error=%r", str(exc))
        editions = {}
    return editions or {DEFAULT_EDITION: Edition(DEFAULT_EDITION, "Engineering @ Scale")}


def _chosen(form: dict[str, str], editions: dict[str, Edition]) -> tuple[str, ...]:
    """The editions ticked on the form (`edition-KEY` checkboxes), in catalogue order.

    A post without the form's `editions` marker (an older form, a script) asks for the
    first edition, as the form did before readers could choose.
    """
    if "editions" not in form:
        return tuple(editions)[:1]
    return tuple(key for key in editions if form.get(f"edition-{key}"))


# --- pages ------------------------------------------------------------------------------

_MAX_FORM = 16_384


async def _form(request: Request) -> dict[str, str]:
    """Fields of a form-urlencoded body (our forms, and Gmail's one-click POST).

    Parsed here rather than with `request.form()` to avoid the python-multipart
    dependency: a multipart one-click POST still works, because the token is in the URL
    and RFC 8058 needs nothing from the body.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    if int(request.headers.get("content-length") or 0) > _MAX_FORM:
        return {}
    body = await request.body()
    fields = parse_qs(body[:_MAX_FORM].decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _page(name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _env().get_template(f"web/newsletter/{name}").render(context)
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
