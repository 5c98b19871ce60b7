"""One exception tree for the whole pipeline.

```
DigestError                 anything we expect and can explain to a user
├── ConfigError             a bad setting or sources file; stops start-up
├── FetchError              a feed or page could not be fetched
├── ParseError              a body could not be read as a feed
├── ComposeError            a digest could not be composed
└── DeliveryError           Slack or email delivery failed
```

Messages are written for users ("feed answered 404 Not Found"), not for developers;
the CLI prints `str(error)` and shows a traceback only with `--debug`.
"""

from __future__ import annotations

__all__ = [
    "ComposeError",
    "ConfigError",
    "DeliveryError",
    "DigestError",
    "FetchError",
    "ParseError",
]


class DigestError(Exception):
    """Base class: an error we can explain to a user in plain words."""


class ConfigError(DigestError):
    """A setting, a sources file or a command-line value is wrong."""


class FetchError(DigestError):
    """A feed or page could not be fetched."""


class ParseError(DigestError):
    """A body could not be read as a feed."""


class ComposeError(DigestError):
    """A digest could not be composed."""


class DeliveryError(DigestError):
    """A Slack post or an email could not be delivered.

    `permanent=False` means "try again later" (SMTP 4xx, Slack 429/5xx, a dropped
    connection): the ledger defers the delivery and the next run retries it.
    `permanent=True` (SMTP 5xx, Slack channel_not_found) marks it failed for good.
    """

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent
