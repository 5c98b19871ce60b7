"""Deep dives written by any OpenAI-compatible chat-completions API, checked before they are used.

Why so defensive: the model is the one part of the pipeline that can make things up, and small
local models do, figures especially. So an answer is used only if it is valid JSON of the
expected shape, 40–180 words long, and every number in it occurs in the article. An answer that
fails is asked for once more; after that, or when the endpoint is down, slow, out of budget or
refusing, the article gets the extractive deep dive instead. The digest never says anything false
and never fails because of the model.

Costs are bounded three ways: a per-run token budget, an input cap (`MAX_INPUT_CHARS`: the
post's opening plus its key later sentences, chosen by the extractive scorer), and a
cache keyed by article text hash + model + prompt version (table `summary_cache`), so an
article is never summarised twice. Requests run `concurrency` at a time over the injected
`httpx.Client` (which is thread-safe); 429 and 5xx answers and timeouts are retried with
exponential backoff that honours Retry-After.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from sqlmodel import Session

from core.model import ArticleRef, DeepDive, Pattern, Signal
from core.summarise import ArticleText, text_hash
from core.summarise.extractive import USABLE_WORDS, condense, summarise_extractive
from storage import deep_dives

__all__ = ["LLMSummariser", "PROMPT_VERSION", "cache_key", "check_answer", "check_pattern"]

log = logging.getLogger(__name__)

PROMPT_VERSION = "dd-v1"
MAX_INPUT_CHARS = 2400  # ≈ 600 tokens: the opening plus the key later sentences (`condense`)
MAX_OUTPUT_TOKENS = 400
MAX_ATTEMPTS = 3  # per request, for 429 / 5xx / timeouts
MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After means "not this run"

SYSTEM_PROMPT = """\
You write the "Deep Dives" of Engineering @ Scale, a daily digest that senior engineers read in \
three minutes. Summarise the engineering blog post you are given as ONE paragraph of 70 to 130 \
words, in this order: the problem the company had, what it built or changed, the trade-off it \
accepted, and the general lesson for other engineering teams. Write in the third person with \
the company as the subject, in a plain, factual tone.
Rules: use only facts stated in the post. Keep concrete numbers, copied exactly as the post \
writes them; never add a number that is not in the post. If the post has too little content \
to summarise, answer with an empty deep_dive.
Answer with a JSON object and nothing else: {"deep_dive": "<the paragraph>"}"""

PATTERN_PROMPT = """\
You write the "Patterns Across Companies" section of Engineering @ Scale, a daily digest for \
senior engineers. You are given deep dives of posts by several companies that share a theme. \
Write ONE paragraph of 40 to 120 words naming the shared theme, naming every company and what \
each did, and ending with what the pattern means for other engineering teams.
Rules: use only facts in the deep dives; never add a number that is not in them; name every \
company listed. Answer with a JSON object and nothing else: {"paragraph": "<the paragraph>"}"""

SIGNAL_PROMPT = """\
You write the "Signal of the Day" of Engineering @ Scale, a daily digest for senior engineers: \
the one post of the day that matters most. You are given its deep dive. Write ONE paragraph of \
40 to 100 words that says why it matters beyond this company: the shift it shows and what other \
engineering teams should take from it. Name the company.
Rules: use only facts in the deep dive; never add a number that is not in it. Answer with a \
JSON object and nothing else: {"paragraph": "<the paragraph>"}"""

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def cache_key(text_digest: str, model: str) -> str:
    """The cache key of one article's summary: text hash + model + prompt version."""
    return hashlib.sha256(f"{text_digest}|{model}|{PROMPT_VERSION}".encode()).hexdigest()


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def _field(content: str, name: str) -> str:
    """The string `name` of a JSON object answer (a ```json fence allowed), whitespace-collapsed."""
    body = content.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise ValueError("answer is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get(name), str):
        raise ValueError(f'answer is not an object with a "{name}" string')
    text = " ".join(data[name].split())
    if not text:
        raise ValueError("model declined to answer")
    return text


def _check_numbers(text: str, source: str, where: str) -> None:
    invented = sorted(_numbers(text) - _numbers(source))
    if invented:
        raise ValueError(f"numbers not in the {where}: {', '.join(invented[:5])}")


def check_answer(content: str, article_text: str) -> str:
    """The deep dive in a model's answer, or raise ValueError saying what is wrong with it.

    Accepts `{"deep_dive": "..."}`, optionally inside a ```json fence. Rejects other shapes,
    empty or refused answers, lengths outside 40–180 words, and any number that does not occur
    in the article (7.5, 3,000 and 40% must appear as 7.5, 3,000 or 3000, and 40).
    """
    text = _field(content, "deep_dive")
    words = len(text.split())
    if not 40 <= words <= 180:
        raise ValueError(f"deep dive has {words} words, not 40–180")
    _check_numbers(text, article_text, "article")
    return text


def check_pattern(content: str, *, companies: Sequence[str], material: str) -> str:
    """The paragraph in a model's pattern answer, or raise ValueError saying what is wrong.

    Accepts `{"paragraph": "..."}` of 30–150 words that names every company of the pattern and
    uses no number absent from the deep dives it was given.
    """
    text = _field(content, "paragraph")
    words = len(text.split())
    if not 30 <= words <= 150:
        raise ValueError(f"paragraph has {words} words, not 30–150")
    missing = [c for c in companies if c.lower() not in text.lower()]
    if missing:
        raise ValueError(f"paragraph does not name {', '.join(missing)}")
    _check_numbers(text, material, "deep dives")
    return text


class _Unavailable(Exception):
    """The endpoint could not answer this request (after retries)."""


@dataclass
class _Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    fallbacks: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLMSummariser:
    """`Summariser` over an OpenAI-compatible `POST {base_url}/chat/completions`.

    Example:
        client = httpx.Client(base_url="http://localhost:11434/v1", timeout=60)
        summariser = LLMSummariser(client=client, model="llama3.1:8b")
        dives = summariser.summarise(articles, session=session)

    - `client`: an httpx client whose `base_url` is the API root (…/v1); built in `app/`.
    - `token_budget`: most tokens (prompt + completion) this instance may spend; articles
      beyond it get extractive deep dives.
    - `concurrency`: requests in flight at once.
    - `sleep`: how to wait between retries (tests pass a recorder).
    `usage` holds calls, tokens, cache hits, retries and fallbacks for the run.
    """

    name = "llm"

    def __init__(
        self,
        *,
        client: httpx.Client,
        model: str,
        api_key: str = "",
        token_budget: int = 200_000,
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.model = model
        self.api_key = api_key
        self.token_budget = token_budget
        self.concurrency = max(1, concurrency)
        self.sleep = sleep
        self.usage = _Usage()
        self._broken: str | None = None  # a non-retryable error (401, 404): stop calling
        self._json_mode = True  # send response_format json_object until a server rejects it

    # --- Summariser ----------------------------------------------------------------------

    def summarise(self, articles: Sequence[ArticleText], *, session: Session) -> list[DeepDive]:
        results: list[DeepDive | None] = [None] * len(articles)
        keys = [cache_key(text_hash(a.text), self.model) for a in articles]
        cache = deep_dives.load_cached_summaries(session=session, keys=keys)
        todo: list[int] = []
        for i, article in enumerate(articles):
            if len(article.text.split()) < USABLE_WORDS:
                results[i] = summarise_extractive(article)  # title-only: nothing to ask about
                continue
            cached = cache.get(keys[i])
            if cached is not None:
                self.usage.cache_hits += 1
                results[i] = DeepDive(
                    article_url=article.url, text=cached.text, summariser="llm", model=self.model
                )
            else:
                todo.append(i)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            answers = list(pool.map(lambda i: self._summarise_one(articles[i]), todo))
        for i, answer in zip(todo, answers, strict=True):
            if answer is None:
                results[i] = summarise_extractive(articles[i])
                continue
            text, prompt_tokens, completion_tokens = answer
            deep_dives.save_cached_summary(
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

    # --- one article ---------------------------------------------------------------------

    def _summarise_one(self, article: ArticleText) -> tuple[str, int, int] | None:
        """(deep dive, prompt tokens, completion tokens), or None to fall back to extractive."""
        messages: list[dict[str, str]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": (
                    f"Company: {article.company}\nTitle: {article.title}\n\n"
                    f"Post:\n{condense(article.text, MAX_INPUT_CHARS)}"
                ),
            },
        ]
        return self._ask(
            messages, lambda content: check_answer(content, article.text), "deep_dive", article.url
        )

    def _ask(
        self,
        messages: list[dict[str, str]],
        check: Callable[[str], str],
        field_name: str,
        label: str,
    ) -> tuple[str, int, int] | None:
        """Ask, check, and ask once more if the answer fails; None when it cannot be had."""
        prompt_tokens = completion_tokens = 0
        for attempt in range(2):  # one answer, and one more if it fails the checks
            if self._broken:
                break
            estimate = sum(len(m["content"]) for m in messages) // 4
            with self.usage.lock:
                if self.usage.tokens + estimate + MAX_OUTPUT_TOKENS > self.token_budget:
                    log.info("llm token budget exhausted for=%s", label)
                    break
            try:
                content, usage = self._complete(messages)
            except _Unavailable as exc:
                log.warning("llm unavailable for=%s reason=%s", label, exc)
                break
            # servers that report no usage are charged an estimate, so the budget still holds
            used_prompt = int(usage.get("prompt_tokens") or estimate)
            used_completion = int(usage.get("completion_tokens") or len(content) // 4)
            prompt_tokens += used_prompt
            completion_tokens += used_completion
            with self.usage.lock:
                self.usage.prompt_tokens += used_prompt
                self.usage.completion_tokens += used_completion
            try:
                return check(content), prompt_tokens, completion_tokens
            except ValueError as exc:
                log.info("llm answer rejected for=%s attempt=%d reason=%s", label, attempt + 1, exc)
                messages = [
                    *messages[:2],
                    {"role": "assistant", "content": content[:4000]},
                    {
                        "role": "user",
                        "content": f"That answer was rejected ({exc}). Answer again, following "
                        f'the rules exactly, as {{"{field_name}": "..."}}.',
                    },
                ]
        with self.usage.lock:
            self.usage.fallbacks += 1
        return None

    # --- patterns and the signal ------------------------------------------------------------

    def write_pattern(
        self, pattern: Pattern, articles: Sequence[ArticleRef], *, session: Session
    ) -> str | None:
        """A written paragraph for a pattern across companies, or None to keep the composed one.

        The model sees only the pattern's deep dives; its paragraph must name every company
        and use no number absent from them. Answers are cached like deep dives.
        """
        material = "\n\n".join(
            f"{a.company} — {a.title}\n{a.text}" for a in articles if a.url in pattern.urls
        )
        return self._write("pattern", PATTERN_PROMPT, pattern.companies, material, session=session)

    def write_signal(self, signal: Signal, article: ArticleRef, *, session: Session) -> str | None:
        """A "why it matters" paragraph for the Signal of the Day, or None to keep the composed one.

        Written from the post's deep dive only, naming the company, adding no number.
        """
        material = f"{article.company} — {article.title}\n{article.text}"
        return self._write("signal", SIGNAL_PROMPT, (signal.company,), material, session=session)

    def _write(
        self,
        kind: str,
        prompt: str,
        companies: Sequence[str],
        material: str,
        *,
        session: Session,
    ) -> str | None:
        key = hashlib.sha256(
            f"{kind}|{text_hash(material)}|{self.model}|{PROMPT_VERSION}".encode()
        ).hexdigest()
        cached = deep_dives.load_cached_summary(session=session, key=key)
        if cached is not None:
            self.usage.cache_hits += 1
            return cached.text
        messages = [
            {"role": "system", "content": prompt},
            {"role": "user", "content": f"Companies: {', '.join(companies)}\n\n{material}"},
        ]
        answer = self._ask(
            messages,
            lambda content: check_pattern(content, companies=companies, material=material),
            "paragraph",
            f"{kind} of {', '.join(companies)}",
        )
        if answer is None:
            return None
        text, prompt_tokens, completion_tokens = answer
        deep_dives.save_cached_summary(
            session=session,
            key=key,
            model=self.model,
            prompt_version=PROMPT_VERSION,
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
        return text

    def _complete(self, messages: list[dict[str, str]]) -> tuple[str, dict[str, Any]]:
        """One chat completion, with retries on 429 / 5xx / timeouts. Returns (content, usage)."""
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
            if attempt:
                with self.usage.lock:
                    self.usage.retries += 1
            with self.usage.lock:
                self.usage.calls += 1
            try:
                response = self.client.post("chat/completions", json=body, headers=headers)
            except httpx.TimeoutException:
                reason = "timed out"
                if attempt + 1 < MAX_ATTEMPTS:
                    self.sleep(_backoff(attempt, None))
                continue
            except httpx.TransportError as exc:
                reason = f"connection failed: {exc}"
                if attempt + 1 < MAX_ATTEMPTS:
                    self.sleep(_backoff(attempt, None))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                reason = f"answered {response.status_code}"
                wait = _backoff(attempt, response.headers.get("retry-after"))
                if wait > MAX_RETRY_AFTER:
                    raise _Unavailable(f"{reason}, retry after {wait:.0f}s")
                if attempt + 1 < MAX_ATTEMPTS:
                    self.sleep(wait)
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
            except (ValueError, KeyError, IndexError, TypeError):
                return "", {}  # an unreadable envelope is a bad answer, checked by the caller
            if message.get("refusal"):
                return "", data.get("usage") or {}
            return str(message.get("content") or ""), data.get("usage") or {}
        raise _Unavailable(reason)


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
