"""Deep dives written by any OpenAI-compatible chat-completions API, checked before they are used.

Why so defensive: the model is the one part of the pipeline that can make things up, and small
local models do, figures especially. So an answer is used only if it is valid JSON of the
expected shape, 40–180 words long, and every number in it occurs in the article. An answer that
fails is asked for once more; after that, or when the endpoint is down, slow, out of budget or
refusing, the article gets the extractive deep dive instead. The digest never says anything false
and never fails because of the model.

Costs are bounded three ways: a per-run token budget, an input cap (`MAX_INPUT_CHARS`), and a
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

from core.model import DeepDive
from core.summarise import ArticleText, text_hash
from core.summarise.extractive import USABLE_WORDS, summarise_extractive
from storage import deep_dives

__all__ = ["LLMSummariser", "PROMPT_VERSION", "check_answer", "cache_key"]

log = logging.getLogger(__name__)

PROMPT_VERSION = "dd-v1"
MAX_INPUT_CHARS = 6000  # ≈ 1,500 tokens: the opening of a post carries its problem and approach
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

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def cache_key(text_digest: str, model: str) -> str:
    """The cache key of one article's summary: text hash + model + prompt version."""
    return hashlib.sha256(f"{text_digest}|{model}|{PROMPT_VERSION}".encode()).hexdigest()


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def check_answer(content: str, article_text: str) -> str:
    """The deep dive in a model's answer, or raise ValueError saying what is wrong with it.

    Accepts `{"deep_dive": "..."}`, optionally inside a ```json fence. Rejects other shapes,
    empty or refused answers, lengths outside 40–180 words, and any number that does not occur
    in the article (7.5, 3,000 and 40% must appear as 7.5, 3,000 or 3000, and 40).
    """
    body = content.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise ValueError("answer is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("deep_dive"), str):
        raise ValueError('answer is not an object with a "deep_dive" string')
    text = " ".join(data["deep_dive"].split())
    if not text:
        raise ValueError("model declined to summarise")
    words = len(text.split())
    if not 40 <= words <= 180:
        raise ValueError(f"deep dive has {words} words, not 40–180")
    invented = sorted(_numbers(text) - _numbers(article_text))
    if invented:
        raise ValueError(f"numbers not in the article: {', '.join(invented[:5])}")
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
                    f"Post:\n{article.text[:MAX_INPUT_CHARS]}"
                ),
            },
        ]
        prompt_tokens = completion_tokens = 0
        for attempt in range(2):  # one answer, and one more if it fails the checks
            if self._broken:
                break
            estimate = sum(len(m["content"]) for m in messages) // 4 + MAX_OUTPUT_TOKENS
            with self.usage.lock:
                if self.usage.tokens + estimate > self.token_budget:
                    log.info("llm token budget exhausted url=%s", article.url)
                    break
            try:
                content, usage = self._complete(messages)
            except _Unavailable as exc:
                log.warning("llm unavailable url=%s reason=%s", article.url, exc)
                break
            prompt_tokens += int(usage.get("prompt_tokens") or estimate - MAX_OUTPUT_TOKENS)
            completion_tokens += int(usage.get("completion_tokens") or len(content) // 4)
            with self.usage.lock:
                self.usage.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                self.usage.completion_tokens += int(usage.get("completion_tokens") or 0)
            try:
                return check_answer(content, article.text), prompt_tokens, completion_tokens
            except ValueError as exc:
                log.info(
                    "llm answer rejected url=%s attempt=%d reason=%s", article.url, attempt + 1, exc
                )
                messages = [
                    *messages[:2],
                    {"role": "assistant", "content": content[:4000]},
                    {
                        "role": "user",
                        "content": f"That answer was rejected ({exc}). Answer again, following "
                        'the rules exactly, as {"deep_dive": "..."}.',
                    },
                ]
        with self.usage.lock:
            self.usage.fallbacks += 1
        return None

    def _complete(self, messages: list[dict[str, str]]) -> tuple[str, dict[str, Any]]:
        """One chat completion, with retries on 429 / 5xx / timeouts. Returns (content, usage)."""
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": MAX_OUTPUT_TOKENS,
            "response_format": {"type": "json_object"},
        }
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
