"""JSON transport: ``POST {url}json.php?<function>`` with the PHP parameter names as JSON keys.

ISPConfig's JSON handler binds the body's keys to the PHP parameters by name (a missing name is
null, so every parameter is sent) and always answers HTTP 200 with ``{"code", "message",
"response"}``; ``remote_fault`` carries only the SoapFault's message (FACTS.md sections 6, 9).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from hostsync.errors import AuthError, ProtocolError, Transient
from hostsync.http import build_client, check_status, describe_body, json_body, transport_errors

from .client import RemoteFault
from .functions import FUNCTIONS, Default

_ENVELOPE_CODES = {"remote_fault", "invalid_method", "invalid_class", "invalid_data"}


class JsonTransport:
    """Calls ``{url}json.php`` with JSON bodies."""

    def __init__(self, url: str, options: Mapping[str, Any]) -> None:
        self.http = build_client(options, base_url=url)

    def body(self, function: str, args: Sequence[Any]) -> dict[str, Any]:
        """The named JSON body for a positional call (defaults sent as their PHP value)."""
        names = FUNCTIONS[function]
        if len(args) > len(names):
            raise TypeError(f"{function} takes {len(names)} arguments, got {len(args)}")
        return {name: (arg.value if isinstance(arg, Default) else arg) for name, arg in zip(names, args)}

    def call(self, function: str, args: Sequence[Any], *, what: str, write: bool) -> Any:
        with transport_errors(what, write=write):
            response = self.http.post(f"json.php?{function}", json=self.body(function, args))
        check_status(response, what, write=write)
        if response.status_code == 403:
            raise AuthError(f"{what}: access refused (HTTP 403); is this host allowed to use the remote API?")
        if response.status_code >= 500:  # PHP died mid-call: a write may be half done
            raise Transient(f"{what}: the server failed ({describe_body(response)})", may_have_applied=write)
        if response.status_code != 200:
            raise ProtocolError(f"{what}: expected the JSON envelope, got {describe_body(response)}")
        envelope = json_body(response, what)
        if not isinstance(envelope, dict) or not isinstance(envelope.get("code"), str):
            raise ProtocolError(f"{what}: JSON without the code/message/response envelope")
        code = envelope["code"]
        if code == "ok":
            return envelope.get("response")
        if code in _ENVELOPE_CODES:
            message = envelope.get("message")
            raise RemoteFault(None if code == "remote_fault" else code,
                              message if isinstance(message, str) else "")
        raise ProtocolError(f"{what}: unknown ISPConfig status code {code[:40]!r}")

    def close(self) -> None:
        self.http.close()
