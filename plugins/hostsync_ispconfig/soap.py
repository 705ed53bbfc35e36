"""SOAP transport: zeep builds rpc/encoded calls from the packaged WSDL; replies are read by xsi:type.

The only module that imports zeep. ISPConfig's ``remote/index.php`` is PHP's SoapServer in non-WSDL
mode (FACTS.md section 9), so every argument goes out wrapped in ``AnyObject`` with an explicit
``xsi:type``: dicts as ``apache:Map``, lists (and the empty dict, which as an empty Map would reach
PHP as NULL) as ``SOAP-ENC:Array``, ``None`` as ``xsi:nil``. zeep sends through our httpx client
(timeouts, TLS and test transports from :func:`hostsync.http.build_client`), never loads anything
but the packaged WSDL, and hands back the raw reply, which :mod:`.soapenc` decodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import httpx
import zeep
from lxml import etree
from zeep import xsd

from hostsync.errors import AuthError, ProtocolError, Transient
from hostsync.http import DEFAULT_TIMEOUT, build_client, check_status, describe_body, transport_errors

from . import soapenc
from .client import RemoteFault
from .functions import Default

WSDL = Path(__file__).with_name("ispconfig.wsdl")
_BINDING = "{urn:ispconfig-remote}RemoteBinding"


class OfflineLoadError(RuntimeError):
    """zeep asked for a document other than the packaged WSDL (it must never go to the network)."""


class _HttpxTransport(zeep.Transport):
    """A zeep transport that posts with our httpx client and loads nothing but the packaged WSDL.

    It overrides ``post`` wholesale, so zeep's debug logging of whole envelopes (which would carry
    the password and client records) never runs.
    """

    def __init__(self, http: httpx.Client, operation_timeout: float) -> None:
        super().__init__(operation_timeout=operation_timeout)
        self.http = http

    def load(self, url: str) -> bytes:
        if Path(url) == WSDL:
            return WSDL.read_bytes()
        raise OfflineLoadError(f"zeep tried to load {url!r}; the ISPConfig WSDL must be self-contained")

    def post(self, address: str, message: bytes, headers: Mapping[str, str]) -> httpx.Response:
        return self.http.post(address, content=message, headers=dict(headers), timeout=self.operation_timeout)


class SoapTransport:
    """Calls ``{url}index.php`` over SOAP."""

    def __init__(self, url: str, options: Mapping[str, Any]) -> None:
        self.endpoint = f"{url}index.php"
        self.http = build_client(options, headers={"Content-Type": "text/xml; charset=utf-8"})
        timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
        self.zeep = zeep.Client(str(WSDL), transport=_HttpxTransport(self.http, timeout),
                                settings=zeep.Settings(raw_response=True))
        self.service = self.zeep.create_service(_BINDING, self.endpoint)
        self._map = self.zeep.get_type("{http://xml.apache.org/xml-soap}Map")
        self._array = self.zeep.get_type("{http://schemas.xmlsoap.org/soap/encoding/}Array")
        self._string, self._int, self._long = xsd.String(), xsd.Int(), xsd.Long()
        self._boolean, self._double = xsd.Boolean(), xsd.Double()

    # -- encoding -----------------------------------------------------------------------------

    def encode(self, value: Any) -> Any:
        """A Python value as a zeep value carrying an explicit ``xsi:type``."""
        if isinstance(value, Default):
            return xsd.SkipValue
        if value is None:
            return xsd.Nil
        if isinstance(value, bool):
            return xsd.AnyObject(self._boolean, value)
        if isinstance(value, int):
            return xsd.AnyObject(self._int if -2**31 <= value < 2**31 else self._long, value)
        if isinstance(value, float):
            return xsd.AnyObject(self._double, value)
        if isinstance(value, str):
            return xsd.AnyObject(self._string, value)
        if isinstance(value, Mapping) and value:
            items = [{"key": xsd.AnyObject(self._string, str(key)), "value": self.encode(item)}
                     for key, item in value.items()]
            return xsd.AnyObject(self._map, self._map(item=items))
        if isinstance(value, (Mapping, list, tuple)):
            return xsd.AnyObject(self._array, self._array(item=[self.encode(item) for item in value]))
        raise TypeError(f"no SOAP encoding for {type(value).__name__}")

    def envelope(self, function: str, args: Sequence[Any]) -> etree._Element:
        """The request envelope for a call (what :meth:`call` sends; used by the replay tests)."""
        return self.zeep.create_message(self.service, function, *(self.encode(arg) for arg in args))

    # -- calling ------------------------------------------------------------------------------

    def call(self, function: str, args: Sequence[Any], *, what: str, write: bool) -> Any:
        encoded = [self.encode(arg) for arg in args]
        with transport_errors(what, write=write):
            response = self.service[function](*encoded)
        return read_response(response, what, write=write)

    def close(self) -> None:
        self.http.close()


def read_response(response: httpx.Response, what: str, *, write: bool) -> Any:
    """The decoded return value of a SOAP reply, or the error it stands for.

    PHP's SoapServer answers faults with HTTP 500 and an envelope. A 5xx without a readable
    envelope (empty, or PHP's error page) is PHP dying mid-call (on PHP 8.2 a database error),
    which may have written part of the record: ``Transient(may_have_applied=write)``.
    """
    check_status(response, what, write=write)
    status = response.status_code
    if status == 403:
        raise AuthError(f"{what}: access refused (HTTP 403); is this host allowed to use the remote API?")
    if status not in (200, 500):
        raise ProtocolError(f"{what}: expected a SOAP answer, got {describe_body(response)}")
    try:
        root = soapenc.parse(response.content)
    except etree.XMLSyntaxError:
        root = None
    if status >= 500 and (root is None or root.tag != f"{{{soapenc.SOAP_ENV}}}Envelope"):
        raise Transient(f"{what}: the server failed ({describe_body(response)})", may_have_applied=write)
    if root is None:
        raise ProtocolError(f"{what}: expected a SOAP answer, got {describe_body(response)} (malformed XML)")
    try:
        reply = soapenc.read_reply(root)
    except soapenc.DecodeError as exc:
        raise ProtocolError(f"{what}: unreadable SOAP answer ({exc}; {describe_body(response)})") from None
    if isinstance(reply, soapenc.Fault):
        raise RemoteFault(reply.code, reply.string, standard=reply.standard)
    if status != 200:
        raise ProtocolError(f"{what}: HTTP {status} with a SOAP answer that is not a fault")
    return reply
