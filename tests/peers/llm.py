"""A local HTTP server speaking OpenAI's chat-completions API, scripted per request.

    with serve_llm(invalid_json(), deep_dive("…")) as llm:
        client = httpx.Client(base_url=llm.url + "/v1/")
        …
    assert len(llm.calls) == 2

Scripted answers are used in order, one per request; after them, `default` answers (by default
`faithful`: a valid answer made of the request's own plain words, so it passes every check of
`core.claims`). `inventing_a_figure`, `inventing_a_name`, `writing_we`, `overrunning`,
`broken_json` and `timing_out` are faithful answers with one fault each, for deep dives and
sections alike.
Answers follow the documented response shape: `choices[0].message.content`, `usage`, and
`{"error": {...}}` bodies with 429 (plus Retry-After) and 5xx.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.peers.http import Request, Response, Server, serve

Answer = Response | Callable[[dict[str, Any]], Response]


def chat(
    content: str, *, prompt_tokens: int = 120, completion_tokens: int = 60, delay: float = 0.0
) -> Response:
    """A 200 chat completion whose message content is `content`."""
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1775000000,
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return Response(200, json.dumps(body), {"Content-Type": "application/json"}, delay=delay)


def deep_dive(problem: str, approach: str, tradeoff: str, lesson: str, **kwargs: Any) -> Response:
    """A chat completion carrying the four deep-dive fields as its JSON content."""
    fields = {"problem": problem, "approach": approach, "tradeoff": tradeoff, "lesson": lesson}
    return chat(json.dumps(fields), **kwargs)


def paragraph(text: str, **kwargs: Any) -> Response:
    """A chat completion carrying `{"paragraph": text}`: a section's answer."""
    return chat(json.dumps({"paragraph": text}), **kwargs)


def invalid_json() -> Response:
    return chat("Sure! Here is the summary you asked for: the post is about databases.")


def refusal() -> Response:
    response = chat("")
    body = json.loads(response.body)
    body["choices"][0]["message"].update(content=None, refusal="I can't help with that.")
    response.body = json.dumps(body)
    return response


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return Response(
        status, json.dumps(body), {"Content-Type": "application/json", **(headers or {})}
    )


def rate_limited(retry_after: str = "1") -> Response:
    return _error(429, "Rate limit reached", "requests", {"Retry-After": retry_after})


def server_error(status: int = 500) -> Response:
    return _error(status, "The server had an error while processing your request.", "server_error")


def unauthorised() -> Response:
    return _error(401, "Incorrect API key provided.", "invalid_request_error")


def slow(seconds: float) -> Answer:
    """A good answer that arrives after `seconds` (longer than the client's timeout, in tests)."""

    def answer(request: dict[str, Any]) -> Response:
        response = faithful(request)
        response.delay = seconds
        return response

    return answer


# --- answers made from the request: faithful, and faithful but for one fault ---------------

_FIRST_PERSON = {"we", "our", "ours", "ourselves", "us", "i", "me", "my", "myself"}


def _plain_words(text: str) -> list[str]:
    """The post's lower-case words, in order: no figures, names or first person to trip on."""
    words = [w for w in re.findall(r"\b[a-z]+\b", text) if w not in _FIRST_PERSON]
    return words or ["the", "post", "is", "short"]


def _faithful_fields(request: dict[str, Any]) -> dict[str, str]:
    system = request["messages"][0]["content"]
    user = request["messages"][1]["content"]
    if '"problem"' in system:  # a deep dive: four fields, each the company plus 18 words
        company = user.split("\n", 1)[0].removeprefix("Company: ")
        words = _plain_words(user.split("Post:\n", 1)[-1])
        words = (words * (72 // len(words) + 1))[:72]
        return {
            name: f"{company} " + " ".join(words[k * 18 : (k + 1) * 18]) + "."
            for k, name in enumerate(("problem", "approach", "tradeoff", "lesson"))
        }
    first, _, material = user.partition("\n\n")
    if first.startswith("Companies: "):
        subject = first.removeprefix("Companies: ")
    else:  # the week in review: no companies line
        subject, material = "The week", user
    words = _plain_words(material)
    words = (words * (60 // len(words) + 1))[:60]
    return {"paragraph": f"{subject} " + " ".join(words) + "."}


def faithful(request: dict[str, Any]) -> Response:
    """A valid answer made of the request's own plain words, so it passes every check: a deep
    dive's four fields each open with the company; a section's paragraph opens with the companies
    it must name."""
    return chat(json.dumps(_faithful_fields(request)))


def _spoilt(spoil: Callable[[str], str]) -> Answer:
    """Faithful, but for `spoil` applied to the answer's last field."""

    def answer(request: dict[str, Any]) -> Response:
        fields = _faithful_fields(request)
        last = list(fields)[-1]
        fields[last] = spoil(fields[last])
        return chat(json.dumps(fields))

    return answer


def inventing_a_figure(figure: str = "987,654") -> Answer:
    """Faithful, plus a figure the post never states."""
    return _spoilt(lambda text: text.rstrip(".") + f", and the bill fell by {figure} dollars.")


def inventing_a_name(name: str = "Kubernetes") -> Answer:
    """Faithful, plus a technology the post never names."""
    return _spoilt(lambda text: text.rstrip(".") + f", all of it running on {name}.")


def writing_we() -> Answer:
    """Faithful, but in the post's own first person."""
    return _spoilt(lambda text: text.rstrip(".") + ", as we found out the hard way.")


def overrunning() -> Answer:
    """Faithful, but four times too long."""
    return _spoilt(lambda text: " ".join([text] * 8))


def broken_json() -> Answer:
    """A JSON answer cut off halfway, as a model that hits its token limit sends."""

    def answer(request: dict[str, Any]) -> Response:
        return chat(json.dumps(_faithful_fields(request))[:60])

    return answer


def timing_out(seconds: float = 1.0) -> Answer:
    """A faithful answer that arrives after `seconds`: longer than the client waits, in tests."""
    return slow(seconds)


@dataclass
class LLMServer:
    server: Server
    calls: list[dict[str, Any]] = field(default_factory=list)  # request bodies, in order
    headers: list[dict[str, str]] = field(default_factory=list)
    max_in_flight: int = 0

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def serve_llm(*script: Answer, default: Answer = faithful) -> Iterator[LLMServer]:
    """Serve `POST /v1/chat/completions` on 127.0.0.1, answering from `script` then `default`."""
    queue = list(script)
    lock = threading.Lock()
    in_flight = 0
    holder: dict[str, LLMServer] = {}

    def handle(request: Request) -> Response:
        nonlocal in_flight
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return _error(404, f"no route {request.path}", "invalid_request_error")
        body = json.loads(request.body)
        llm = holder["llm"]
        with lock:
            llm.calls.append(body)
            llm.headers.append(request.headers)
            answer = queue.pop(0) if queue else default
            in_flight += 1
            llm.max_in_flight = max(llm.max_in_flight, in_flight)
        try:
            response = answer(body) if callable(answer) else answer
            time.sleep(0.02)  # hold each request briefly so concurrent ones overlap and are counted
            return response
        finally:
            with lock:
                in_flight -= 1

    with serve(handle) as server:
        holder["llm"] = LLMServer(server=server)
        yield holder["llm"]
