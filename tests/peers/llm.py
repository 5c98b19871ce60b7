"""A local HTTP server speaking OpenAI's chat-completions API, scripted per request.

    with serve_llm(invalid_json(), deep_dive("…")) as llm:
        client = httpx.Client(base_url=llm.url + "/v1/")
        …
    assert len(llm.calls) == 2

Scripted answers are used in order, one per request; after them, `default` answers (by default
`faithful`: a valid deep dive made of the article's own opening words, so it passes the checks).
Answers follow the documented response shape: `choices[0].message.content`, `usage`, and
`{"error": {...}}` bodies with 429 (plus Retry-After) and 5xx.
"""

from __future__ import annotations

import json
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


def deep_dive(text: str, **kwargs: Any) -> Response:
    """A chat completion carrying `{"deep_dive": text}` as its content."""
    return chat(json.dumps({"deep_dive": text}), **kwargs)


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


def slow(seconds: float) -> Response:
    """A good answer that arrives after `seconds` (longer than the client's timeout, in tests)."""
    return deep_dive(" ".join(["word"] * 60), delay=seconds)


def faithful(request: dict[str, Any]) -> Response:
    """A valid deep dive: the first 70 words of the post the request carries."""
    user = request["messages"][1]["content"]
    post = user.split("Post:\n", 1)[-1]
    return deep_dive(" ".join(post.split()[:70]))


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
