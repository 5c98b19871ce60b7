"""What one run may spend on the model, and what it did: `RunBudget`, `Usage`, `Estimate`.

Why apart from `core.summarise.llm`: the budget and the tally are shared by every step of a
run that talks to the model (deep dives, then the digests' sections in `core.editorial`), and
the summary line that `digest summarise` and `digest run` print is made here, from the tally.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Estimate", "RunBudget", "Usage"]


class RunBudget:
    """What one run may spend on the model: tokens, and seconds from when the budget was made.

    Shared by every step of one run (summarise, then compose's sections), so LLM_TOKEN_BUDGET and
    LLM_TIME_BUDGET cover the run, not each step. A request reserves its estimate before it is
    made and settles its real usage after, so concurrent requests never overspend together.
    `clock` is injected (tests pass a fake one); it only measures elapsed time.
    """

    def __init__(
        self,
        *,
        tokens: int,
        seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokens = tokens
        self.seconds = seconds
        self.clock = clock
        self.deadline = clock() + seconds if seconds > 0 else None
        self.spent = 0
        self._reserved = 0
        self._lock = threading.Lock()

    def reserve(self, tokens: int) -> str | None:
        """None if `tokens` may be spent now (and hold them); else "tokens" or "time"."""
        with self._lock:
            if self.deadline is not None and self.clock() >= self.deadline:
                return "time"
            if self.spent + self._reserved + tokens > self.tokens:
                return "tokens"
            self._reserved += tokens
            return None

    def settle(self, reserved: int, used: int) -> None:
        with self._lock:
            self._reserved -= reserved
            self.spent += used

    def seconds_left(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - self.clock())


@dataclass
class Usage:
    """What a summariser did in one run; `line()` is the run's summary of the model's work."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    retries: int = 0
    written: int = 0  # texts by the model that were used (cached ones included)
    rejected: Counter[str] = field(default_factory=Counter)  # answers rejected, by reason
    fallbacks: int = 0  # deep dives that fell back to the extractive one
    composed: int = 0  # sections that kept the composed text
    out_of_tokens: int = 0  # of those fallbacks, asks not made because the token budget ran out
    out_of_time: int = 0  # … because the run's time budget ran out
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def line(self, *, token_budget: int = 0, time_budget: float = 0) -> str:
        """'12 by the model, 3 rejected (a figure not in the post: 1, a name not in the post:
        2), 3 extractive', plus cached answers, calls, tokens and why the budget stopped it."""
        parts = [
            f"{self.written} by the model"
            + (f" ({self.cache_hits} cached)" if self.cache_hits else "")
        ]
        rejected = sum(self.rejected.values())
        if rejected:
            reasons = ", ".join(f"{r}: {n}" for r, n in sorted(self.rejected.items()))
            parts.append(f"{rejected} rejected ({reasons})")
        parts.append(f"{self.fallbacks} extractive")
        if self.composed:
            parts.append(f"{self.composed} composed")
        line = ", ".join(parts) + f"; {self.calls} calls, {self.tokens:,} tokens"
        if self.out_of_tokens:
            line += (
                f"; LLM_TOKEN_BUDGET ({token_budget:,}) ran out: {self.out_of_tokens} left to "
                "the fallback"
            )
        if self.out_of_time:
            line += (
                f"; LLM_TIME_BUDGET ({time_budget:g} s) ran out: {self.out_of_time} left to "
                "the fallback"
            )
        return line


@dataclass(frozen=True)
class Estimate:
    """What summarising would cost, without asking the model (`digest summarise --estimate`)."""

    posts: int  # would go to the model
    cached: int  # already answered for this model and prompt version
    title_only: int  # too little text to send
    tokens: int  # ≈ prompt (4 characters a token) + a typical answer, per post
