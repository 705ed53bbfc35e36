"""The Blesta API wire protocol: URLs, authentication, verb-specific parameters, envelopes, errors, paging.

``{url}/api/{model}/{method}.json`` (plugin models as ``{plugin}.{model}``). GET and DELETE carry the
arguments in the query string, POST and PUT in a form body (Blesta reads PUT with
``parse_str(php://input)``), all in PHP bracket notation (:mod:`.phpform`). A 200 answer is
``{"response": <the model method's return value>}``; failures are HTTP statuses with a
``{"message", "errors"}`` body, mapped here to :mod:`hostsync.errors` types. No message ever carries
the API key, an argument value or a raw vendor body.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, Mapping

import httpx

from hostsync.errors import AuthError, ProtocolError, Rejected, Transient
from hostsync.http import (build_client, check_status, describe_body, json_body, json_object, paged, transport_errors,
                           vendor_text)

from . import phpform

log = logging.getLogger("hostsync.blesta")

#: Blesta's ``Blesta.results_per_page`` in a stock ``config/blesta.php``; not settable through the API.
PAGE_SIZE = 20
#: Safety stop for a server that ignores ``page`` (would otherwise page forever).
MAX_PAGES = 100_000

_DEFAULT_VALUE = "Failed to retrieve the default value"


class BlestaClient:
    """One configured Blesta installation. Thread-safe (one shared ``httpx.Client``)."""

    def __init__(self, options: Mapping[str, Any], fetch: Callable[..., Any] | None = None) -> None:
        """:param options: the system's settings; ``build_client`` reads ``timeout``, ``verify_tls``,
            ``concurrency`` (the pool size) and a test ``http_transport`` from them.
        :param fetch: runs each page request of :meth:`pages` (the connector's ``fetch``, so the
            core retries a failed page in place); default: a plain call."""
        self.fetch = fetch or (lambda function, *args: function(*args))
        base = str(options["url"]).rstrip("/")
        user, key = str(options["user"]), str(options["key"])
        if options.get("auth", "basic") == "header":  # Blesta >= 5.11
            auth, headers = None, {"BLESTA-API-USER": user, "BLESTA-API-KEY": key}
        else:
            auth, headers = httpx.BasicAuth(user, key), {}
        self.http = build_client(options, base_url=f"{base}/api/", auth=auth,
                                 headers={"Accept": "application/json", **headers})
        self.base = f"{base}/api/"  # requests name their whole URL: parsed once, not joined to the base again

    def close(self) -> None:
        self.http.close()

    # -- calls ----------------------------------------------------------------------------------

    def get(self, model: str, method: str, args: Mapping[str, Any] | None = None, *, context: str = "") -> Any:
        return self.call("GET", model, method, args, context=context)

    def post(self, model: str, method: str, args: Mapping[str, Any] | None = None, *, context: str = "") -> Any:
        return self.call("POST", model, method, args, context=context)

    def put(self, model: str, method: str, args: Mapping[str, Any] | None = None, *, context: str = "") -> Any:
        return self.call("PUT", model, method, args, context=context)

    def delete(self, model: str, method: str, args: Mapping[str, Any] | None = None, *, context: str = "") -> Any:
        return self.call("DELETE", model, method, args, context=context)

    def call(self, verb: str, model: str, method: str, args: Mapping[str, Any] | None = None, *,
             context: str = "") -> Any:
        """Call ``model/method`` and return its ``response``; raise the taxonomy error on failure.

        :param context: what the caller is doing, for messages (e.g. ``"update invoice 12"``).
        """
        what = f"{context}: Blesta {model}/{method}" if context else f"Blesta {model}/{method}"
        write = verb != "GET"
        try:
            body = phpform.encode(args or {})
        except phpform.FormError as exc:
            raise Rejected(f"{what}: {exc}") from None
        path = f"{model}/{method}.json"
        if verb in ("GET", "DELETE"):
            request = self.http.build_request(verb, self.base + path + (f"?{body}" if body else ""))
        else:
            request = self.http.build_request(
                verb, self.base + path, content=body.encode("utf-8"),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        with transport_errors(what, write=write):
            response = self.http.send(request)
            response.read()
        return self._answer(response, what, model, method, write)

    def _answer(self, response: httpx.Response, what: str, model: str, method: str, write: bool) -> Any:
        status = response.status_code
        if status == 200:
            body = json_body(response, what)
            if not isinstance(body, dict) or "response" not in body:
                raise ProtocolError(f"{what}: expected a JSON object with 'response', got {describe_body(response)}")
            return body["response"]
        if 300 <= status < 400:
            raise ProtocolError(f"{what}: redirected (HTTP {status}); check that url is the Blesta "
                                "installation base (https, with /index.php if .htaccess is not used)")
        if status == 500 and _default_value_missing(response):
            raise ProtocolError(f"{what}: Blesta could not bind an argument it needs (HTTP 500 'Failed to "
                                "retrieve the default value'); this client must send it")
        check_status(response, what, write=write)  # 401, 429, 502-504, empty 500
        message = _message(response)
        if status == 400:
            fields = _field_errors(response)
            detail = "; ".join(f"{name}: {text}" for name, text in fields.items())
            raise Rejected(f"{what}: refused: {detail or message or 'HTTP 400'}", fields)
        if status == 403:
            raise AuthError(f"{what}: not accessible to this API user (HTTP 403); check the API key's company "
                            "and that the method is public")
        if status == 404:
            raise ProtocolError(f"{what}: no such model or method on this Blesta (HTTP 404); is the plugin "
                                "installed and the Blesta version recent enough?")
        if status == 415:
            raise ProtocolError(f"{what}: format not supported (HTTP 415)")
        if status == 500:
            raise Transient(f"{what}: Blesta failed (HTTP 500{': ' + message if message else ''})",
                            may_have_applied=write)
        if 500 <= status < 600:
            raise Transient(f"{what}: HTTP {status} from Blesta", may_have_applied=write)
        raise ProtocolError(f"{what}: unexpected answer {describe_body(response)}")

    # -- lists ----------------------------------------------------------------------------------

    def pages(self, model: str, method: str, args: Mapping[str, Any], *, count: Mapping[str, Any] | None = None,
              key: str = "id", context: str = "") -> Iterator[dict[str, Any]]:
        """Every row of a paged ``getList``, page 1 upwards.

        ``count``, when given, are the arguments of the matching ``getListCount``: its total ends the
        loop without an extra empty page. The loop also ends on an empty answer (``[]``, ``null`` or
        ``false``) or a page shorter than the first one (the server's page size, 20 on a stock
        Blesta, is learned rather than assumed).
        """
        total = None
        if count is not None:
            total = _int(self.fetch(lambda: self.get(model, method + "Count", count, context=context)),
                         f"{model}/{method}Count")
            if total == 0:
                return
        size = read = 0

        def page(number: int) -> tuple[list[dict[str, Any]], bool]:
            nonlocal size, read
            rows = rows_of(self.fetch(lambda: self.get(model, method, {**args, "page": number}, context=context)),
                           f"{model}/{method}")
            size = size or len(rows)
            read += len(rows)
            return rows, not rows or len(rows) < size or (total is not None and read >= total)

        yield from paged(page, f"{context + ': ' if context else ''}Blesta {model}/{method}", key=key,
                         max_pages=MAX_PAGES)


def rows_of(value: Any, what: str) -> list[dict[str, Any]]:
    """A list answer as a list of objects: Blesta's empty lists come as ``[]``, ``null`` or ``false``."""
    if value in (None, False, "", []):
        return []
    if isinstance(value, dict):  # a PHP array with non-sequential keys
        value = list(value.values())
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise ProtocolError(f"Blesta {what}: expected a list of objects, got {type(value).__name__}")
    return value


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ProtocolError(f"Blesta {what}: expected a number, got {type(value).__name__}") from None


def _message(response: httpx.Response) -> str:
    message = json_object(response).get("message")
    return vendor_text(message) if isinstance(message, str) else ""


def _default_value_missing(response: httpx.Response) -> bool:
    detail = json_object(response).get("response")
    return isinstance(detail, str) and _DEFAULT_VALUE in detail


def _field_errors(response: httpx.Response) -> dict[str, str]:
    """Blesta's ``errors`` map ``{field: {code: message}}`` as ``{field: "message; message"}``."""
    errors = json_object(response).get("errors")
    out: dict[str, str] = {}
    if not isinstance(errors, dict):
        return out
    for field, codes in errors.items():
        if isinstance(codes, dict):
            texts = [str(text) for text in codes.values()]
        elif isinstance(codes, list):
            texts = [str(text) for text in codes]
        else:
            texts = [str(codes)]
        out[str(field)] = vendor_text("; ".join(texts), 500)
    return out
