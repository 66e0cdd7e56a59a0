"""The errors this service raises, and what HTTP makes of them.

    LeaderboardError              domain errors, raised below the web layer
     ├── InvalidInput             a submission or query parameter is unusable    -> 400
     └── BackendUnavailable       Redis or Kafka did not answer in time          -> 503

    faust.web.exceptions.WebError rendered by faust's View.dispatch as
     │                            {"error": detail, **context} with its status code
     ├── ValidationError  400     (views turn InvalidInput into this)
     ├── NotFound         404
     ├── RequestTimeout   408     (ours: a body that does not arrive in time)
     ├── PayloadTooLarge  413     (ours: request bodies over the endpoint's limit)
     ├── UnsupportedMediaType 415 (ours: a body that is not declared application/json)
     ├── TooManyStreams   429     (ours: a client past its share of a worker's event streams)
     └── ServiceUnavailable 503   (views turn BackendUnavailable into this)

Anything else escaping a view is a bug: the error middleware in ``web`` logs it and
answers a JSON 500, never aiohttp's HTML page.
"""

from __future__ import annotations

from http import HTTPStatus

from faust.web.exceptions import WebError


class LeaderboardError(Exception):
    """Base of the domain errors."""


class InvalidInput(LeaderboardError):
    """Input that cannot be accepted; the message names the field and the rule."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason

    def within(self, prefix: str) -> InvalidInput:
        """Return the same error for a field nested under ``prefix`` (e.g. ``scores[3].``)."""
        return InvalidInput(prefix + self.field, self.reason)


class BackendUnavailable(LeaderboardError):
    """A backing service did not answer; the message names it."""


class RequestTimeout(WebError):
    """The client did not send its request body in time."""

    code = HTTPStatus.REQUEST_TIMEOUT
    detail = "request body not received in time"


class PayloadTooLarge(WebError):
    """The request body exceeds the endpoint's limit."""

    code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    detail = "request body too large"


class UnsupportedMediaType(WebError):
    """A write's body is not declared as JSON.

    Browsers send ``text/plain`` cross-site without asking the server first (no
    CORS preflight), so accepting any type would let any web page submit scores
    from its visitors' browsers.
    """

    code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    detail = "Content-Type must be application/json"


class TooManyStreams(WebError):
    """A client asked for more event streams than one client may hold open on a worker."""

    code = HTTPStatus.TOO_MANY_REQUESTS
    detail = "too many open streams"
