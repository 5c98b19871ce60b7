"""Deep dives written by any OpenAI-compatible chat-completions API, checked before they are used.

Why so defensive: the model is the one part of the pipeline that can make things up, and small
local models do. So the model is asked for four JSON fields (`problem`, `approach`, `tradeoff`,
`lesson`), which are joined into the deep dive in that order, and the paragraph is used only if
it passes every check of `core.claims` (70–130 words, every figure and capitalised name from the
post, third person, English, the company named). An answer that fails is asked for once more
with the reason; after that, or when the endpoint is down, slow, refusing or out of budget, the
article gets the extractive deep dive instead. The digest never says anything false and never
fails because of the model.

The model sees the whole post up to `max_input_chars` (LLM_MAX_INPUT_CHARS, 24,000 characters,
about 6,000 tokens); only a longer one is condensed (`extractive.condense`: its opening plus its
key later sentences). Costs are bounded by one `RunBudget` per run (tokens and seconds, shared
by every step of a `digest run` or worker tick that uses the same summariser) and by a cache
keyed by article text hash + model + prompt version (table `summary_cache`), so an article is
never summarised twice. Requests run `concurrency` at a time over the injected `httpx.Client`
(which is thread-safe); 429 and 5xx answers and timeouts are retried with exponential backoff
that honours Retry-After, never past the run's deadline.

`core.editorial` writes the digests' other sections through the same `ask`, budget and usage.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from core.claims import Rejected, check_text, read_fields
from core.model import DeepDive
from core.summarise import ArticleText, text_hash
from core.summarise.extractive import USABLE_WORDS, condense, summarise_extractive
from core.summarise.usage import Estimate, RunBudget, Usage
from storage import summary_cache

if TYPE_CHECKING:  # httpx comes with the client the app builds (`_complete` catches its errors):
    # composing imports this module for the cache key and never calls the model (~45 ms)
    import httpx

    from core.editorial import LLMEditor

__all__ = [
    "DEEP_DIVE_FIELDS",
    "Estimate",
    "LLMSummariser",
    "MAX_INPUT_CHARS",
    "PROMPT_VERSION",
    "RunBudget",
    "Usage",
    "cache_key",
    "check_deep_dive",
]

log = logging.getLogger(__name__)

PROMPT_VERSION = "dd-v2"  # v2: four JSON fields, whole posts, names and voice checked
MAX_INPUT_CHARS = 24_000  # ≈ 6,000 tokens: a typical post whole; `condense` only beyond
MAX_OUTPUT_TOKENS = 600
EXPECTED_OUTPUT_TOKENS = 250  # what a 70–130-word JSON answer costs, for `--estimate`
MAX_ATTEMPTS = 3  # per request, for 429 / 5xx / timeouts
MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After means "not this run"
DEEP_DIVE_FIELDS = ("problem", "approach", "tradeoff", "lesson")
DEEP_DIVE_WORDS = (70, 130)
FIELD_WORDS = (4, 60)

SYSTEM_PROMPT = """\
You write the "Deep Dives" of Engineering @ Scale, a daily digest that senior engineers read in \
three minutes. Summarise the engineering blog post you are given in four parts, one or two \
sentences each, 70 to 130 words in all:
- problem: the problem the company had;
- approach: what it built or changed;
- tradeoff: the trade-off it accepted;
- lesson: the general lesson for other engineering teams.
Write in the third person with the company as the subject ("Datadog built …"), never "we", \
"our" or "I", in plain, factual English.
Rules: use only facts stated in the post. Copy numbers exactly as the post writes them and \
never add one. Name only technologies, products, companies and people that the post names. If \
the post has too little content to summarise, answer with empty fields.
Answer with a JSON object and nothing else:
{"problem": "…", "approach": "…", "tradeoff": "…", "lesson": "…"}"""


def cache_key(text_digest: str, model: str, kind: str = "") -> str:
    """The cache key of one model answer: content hash + model + prompt version (+ section)."""
    prefix = f"{kind}|" if kind else ""
    return hashlib.sha256(f"{prefix}{text_digest}|{model}|{PROMPT_VERSION}".encode()).hexdigest()


def _material(article: ArticleText) -> str:
    return f"{article.company}\n{article.title}\n{article.text}"


def _sentence(text: str) -> str:
    return text if text[-1:] in ".!?" else text + "."


def check_deep_dive(content: str, article: ArticleText) -> str:
    """The deep dive in a model's answer, or raise `core.claims.Rejected` saying what is wrong.

    Accepts `{"problem", "approach", "tradeoff", "lesson"}` (optionally inside a ```json fence),
    each 4–60 words, joined in that order into a 70–130-word paragraph that passes
    `core.claims.check_text` against the post and names the company.
    """
    fields = read_fields(content, DEEP_DIVE_FIELDS)
    for name, value in fields.items():
        count = len(value.split())
        if count < FIELD_WORDS[0]:
            raise Rejected("too short", f'"{name}" has {count} words, at least {FIELD_WORDS[0]}')
        if count > FIELD_WORDS[1]:
            raise Rejected("too long", f'"{name}" has {count} words, at most {FIELD_WORDS[1]}')
    paragraph = " ".join(_sentence(fields[name]) for name in DEEP_DIVE_FIELDS)
    company = [article.company] if article.company else []
    return check_text(
        paragraph,
        material=_material(article),
        names=company,
        words=DEEP_DIVE_WORDS,
        must_name=company,
    )


class _Unavailable(Exception):
    """The endpoint could not answer this request (after retries)."""


class LLMSummariser:
    """`Summariser` over an OpenAI-compatible `POST {base_url}/chat/completions`.

    Example:
        client = httpx.Client(base_url="http://localhost:11434/v1/", timeout=60)
        summariser = LLMSummariser(client=client, model="llama3.1:8b")
        dives = summariser.summarise(articles, session=session)

    - `client`: an httpx client whose `base_url` is the API root (…/v1/); built in `app/`.
    - `budget`: the run's `RunBudget`; by default `token_budget` tokens and no time limit.
      Articles beyond it get extractive deep dives. Make one summariser (or budget) per run.
    - `max_input_chars`: longest post sent whole; longer ones are condensed to it.
    - `concurrency`: requests in flight at once.
    - `sleep`: how to wait between retries (tests pass a recorder).
    `usage` holds calls, tokens, cache hits, rejections and fallbacks for the run.
    """

    name = "llm"

    def __init__(
        self,
        *,
        client: httpx.Client,
        model: str,
        api_key: str = "",
        token_budget: int = 200_000,
        budget: RunBudget | None = None,
        max_input_chars: int = MAX_INPUT_CHARS,
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.model = model
        self.api_key = api_key
        self.budget = budget or RunBudget(tokens=token_budget)
        self.max_input_chars = max_input_chars
        self.concurrency = max(1, concurrency)
        self.sleep = sleep
        self.usage = Usage()
        self._broken: str | None = None  # a non-retryable error (401, 404): stop calling
        self._json_mode = True  # send response_format json_object until a server rejects it

    def line(self) -> str:
        """The run's summary of the model's work (`Usage.line`)."""
        return self.usage.line(token_budget=self.budget.tokens, time_budget=self.budget.seconds)

    # --- sections -------------------------------------------------------------------------

    def editor(self, *, session: Session) -> LLMEditor:
        """The `core.editorial.Editor` that writes a digest's sections with this run's model,
        budget and tally, caching its answers in `session`."""
        from core.editorial import LLMEditor  # editorial builds on this module

        return LLMEditor(self, session=session)

    # --- Summariser ----------------------------------------------------------------------

    def summarise(self, articles: Sequence[ArticleText], *, session: Session) -> list[DeepDive]:
        results: list[DeepDive | None] = [None] * len(articles)
        keys = [cache_key(text_hash(a.text), self.model) for a in articles]
        cache = summary_cache.load_cached_summaries(session=session, keys=keys)
        todo: list[int] = []
        for i, article in enumerate(articles):
            if len(article.text.split()) < USABLE_WORDS:
                results[i] = summarise_extractive(article)  # title-only: nothing to ask about
                continue
            cached = cache.get(keys[i])
            if cached is not None:
                self.usage.cache_hits += 1
                self.usage.written += 1
                results[i] = DeepDive(
                    article_url=article.url, text=cached.text, summariser="llm", model=self.model
                )
            else:
                todo.append(i)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            answers = list(pool.map(lambda i: self._summarise_one(articles[i]), todo))
        for i, answer in zip(todo, answers, strict=True):
            if answer is None:
                self.usage.fallbacks += 1
                results[i] = summarise_extractive(articles[i])
                continue
            text, prompt_tokens, completion_tokens = answer
            self.usage.written += 1
            summary_cache.save_cached_summary(
                session=session,
                key=keys[i],
                model=self.model,
                prompt_version=PROMPT_VERSION,
                text=text,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
            results[i] = DeepDive(
                article_url=articles[i].url,
                text=text,
                summariser="llm",
                model=self.model,
                tokens=prompt_tokens + completion_tokens,
            )
        return [r for r in results if r is not None]

    def estimate(self, articles: Sequence[ArticleText], *, session: Session) -> Estimate:
        """How many of `articles` would go to the model, and about how many tokens that costs."""
        keys = [cache_key(text_hash(a.text), self.model) for a in articles]
        cache = summary_cache.load_cached_summaries(session=session, keys=keys)
        posts = cached = title_only = tokens = 0
        for article, key in zip(articles, keys, strict=True):
            if len(article.text.split()) < USABLE_WORDS:
                title_only += 1
            elif key in cache:
                cached += 1
            else:
                posts += 1
                chars = sum(len(m["content"]) for m in self._messages(article))
                tokens += chars // 4 + EXPECTED_OUTPUT_TOKENS
        return Estimate(posts=posts, cached=cached, title_only=title_only, tokens=tokens)

    # --- one article ---------------------------------------------------------------------

    def _messages(self, article: ArticleText) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": (
                    f"Company: {article.company}\nTitle: {article.title}\n\n"
                    f"Post:\n{condense(article.text, self.max_input_chars)}"
                ),
            },
        ]

    def _summarise_one(self, article: ArticleText) -> tuple[str, int, int] | None:
        """(deep dive, prompt tokens, completion tokens), or None to fall back to extractive."""
        return self.ask(
            self._messages(article),
            lambda content: check_deep_dive(content, article),
            '{"problem": "…", "approach": "…", "tradeoff": "…", "lesson": "…"}',
            article.url,
        )

    def ask(
        self,
        messages: list[dict[str, str]],
        check: Callable[[str], str],
        shape: str,
        label: str,
    ) -> tuple[str, int, int] | None:
        """Ask, check, and ask once more with the reason if the answer fails; None when the
        answer cannot be had (rejected twice, endpoint unavailable, budget spent).

        `check` returns the usable text or raises `core.claims.Rejected`; `shape` is the JSON
        shape the retry asks for. Every rejection is counted in `usage.rejected`.
        """
        try:
            return self._ask(messages, check, shape, label)
        except Exception:  # a bug here must cost one text its fluency, never the run
            log.exception("llm ask failed for=%s", label)
            return None

    def _ask(
        self,
        messages: list[dict[str, str]],
        check: Callable[[str], str],
        shape: str,
        label: str,
    ) -> tuple[str, int, int] | None:
        prompt_tokens = completion_tokens = 0
        for attempt in range(2):  # one answer, and one more if it fails the checks
            if self._broken:
                break
            estimate = sum(len(m["content"]) for m in messages) // 4
            refused = self.budget.reserve(estimate + MAX_OUTPUT_TOKENS)
            if refused:
                log.info("llm %s budget spent for=%s", refused, label)
                with self.usage.lock:
                    if refused == "time":
                        self.usage.out_of_time += 1
                    else:
                        self.usage.out_of_tokens += 1
                break
            try:
                content, usage = self._complete(messages)
            except _Unavailable as exc:
                self.budget.settle(estimate + MAX_OUTPUT_TOKENS, 0)
                log.warning("llm unavailable for=%s reason=%s", label, exc)
                break
            # servers that report no usage are charged an estimate, so the budget still holds
            used_prompt = _count(usage.get("prompt_tokens"), estimate)
            used_completion = _count(usage.get("completion_tokens"), len(content) // 4)
            self.budget.settle(estimate + MAX_OUTPUT_TOKENS, used_prompt + used_completion)
            prompt_tokens += used_prompt
            completion_tokens += used_completion
            with self.usage.lock:
                self.usage.prompt_tokens += used_prompt
                self.usage.completion_tokens += used_completion
            try:
                return check(content), prompt_tokens, completion_tokens
            except Rejected as exc:
                with self.usage.lock:
                    self.usage.rejected[exc.reason] += 1
                log.info("llm answer rejected for=%s attempt=%d reason=%s", label, attempt + 1, exc)
                messages = [
                    *messages[:2],
                    {"role": "assistant", "content": content[:4000]},
                    {
                        "role": "user",
                        "content": f"That answer was rejected ({exc}). Answer again, following "
                        f"the rules exactly, as {shape}.",
                    },
                ]
        return None

    def _complete(self, messages: list[dict[str, str]]) -> tuple[str, dict[str, Any]]:
        """One chat completion, with retries on 429 / 5xx / timeouts. Returns (content, usage)."""
        import httpx  # already loaded: `self.client` is one

        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": MAX_OUTPUT_TOKENS,
        }
        if self._json_mode:
            body["response_format"] = {"type": "json_object"}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        reason = ""
        for attempt in range(MAX_ATTEMPTS):
            left = self.budget.seconds_left()
            if left is not None and left <= 0:
                raise _Unavailable(f"{reason or 'no answer'} before the run's time budget ran out")
            if attempt:
                with self.usage.lock:
                    self.usage.retries += 1
            with self.usage.lock:
                self.usage.calls += 1
            try:
                response = self.client.post(
                    "chat/completions",
                    json=body,
                    headers=headers,
                    timeout=_timeout(self.client, left),
                )
            except httpx.TimeoutException:
                reason = "timed out"
                self._wait(attempt, None)
                continue
            except httpx.TransportError as exc:
                reason = f"connection failed: {exc}"
                self._wait(attempt, None)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                reason = f"answered {response.status_code}"
                wait = _backoff(attempt, response.headers.get("retry-after"))
                if wait > MAX_RETRY_AFTER:
                    raise _Unavailable(f"{reason}, retry after {wait:.0f}s")
                self._wait(attempt, wait)
                continue
            if (
                response.status_code == 400
                and "response_format" in body
                and "response_format" in response.text
            ):
                # some local servers reject JSON mode: ask without it (the prompt asks for
                # JSON anyway and every answer is checked), for the rest of the run
                self._json_mode = False
                del body["response_format"]
                continue
            if response.status_code != 200:
                self._broken = f"answered {response.status_code}: {response.text[:200]}"
                raise _Unavailable(self._broken)
            try:
                data = response.json()
                message = data["choices"][0]["message"]
                usage = data.get("usage") or {}
                if not isinstance(message, dict) or not isinstance(usage, dict):
                    raise TypeError
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                return "", {}  # an unreadable envelope is a bad answer, checked by the caller
            if message.get("refusal"):
                return "", usage
            return str(message.get("content") or ""), usage
        raise _Unavailable(reason)

    def _wait(self, attempt: int, seconds: float | None) -> None:
        """Sleep before the next attempt, unless it is the last one or the run's time is up."""
        if attempt + 1 >= MAX_ATTEMPTS:
            return
        wait = _backoff(attempt, None) if seconds is None else seconds
        left = self.budget.seconds_left()
        if left is not None and wait >= left:
            raise _Unavailable("the run's time budget ran out while waiting to retry")
        self.sleep(wait)


def _count(value: object, default: int) -> int:
    """A token count the server reported, or `default` when it reported none or nonsense."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    return default


def _timeout(
    client: httpx.Client, left: float | None
) -> httpx.Timeout | tuple[float, float, float, float]:
    """The client's timeout, cut to the time the run has left: httpx's (connect, read,
    write, pool)."""
    timeout = client.timeout
    if left is None:
        return timeout
    return (
        min(timeout.connect or left, left),
        min(timeout.read or left, left),
        min(timeout.write or left, left),
        min(timeout.pool or left, left),
    )


def _backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds to wait: Retry-After (seconds or an HTTP date) when given, else 1, 2, 4 …"""
    if retry_after:
        value = retry_after.strip()
        if value.isdigit():
            return float(value)
        try:
            moment = parsedate_to_datetime(value)
            return max(0.0, moment.timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    return float(2**attempt)
