"""PHP ext/soap's SOAP encoding, read and written with lxml (no zeep here).

Replies are decoded by ``xsi:type`` from the raw XML, because zeep's own decoding turns ``''`` into
``None`` and does not know PHP's ``apache:Map``. The writing half answers the way PHP's SoapServer
does in non-WSDL mode and serves the sandbox; ``php=True`` decoding reproduces how such a server
reads arguments (an item-less Map arrives as NULL, an untyped struct as a stdClass object).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENC = "http://schemas.xmlsoap.org/soap/encoding/"
XSD = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
APACHE = "http://xml.apache.org/xml-soap"

_TYPE = f"{{{XSI}}}type"
_NIL = f"{{{XSI}}}nil"
_ARRAY_TYPE = f"{{{SOAP_ENC}}}arrayType"
_INTS = {"int", "integer", "long", "short", "byte", "nonNegativeInteger", "positiveInteger",
         "negativeInteger", "nonPositiveInteger", "unsignedInt", "unsignedLong", "unsignedShort",
         "unsignedByte"}
_FLOATS = {"float", "double", "decimal"}
_STRINGS = {"string", "normalizedString", "token", "anyURI", "date", "dateTime", "time", "QName"}
# A parser that never fetches anything and never expands entities (replies are untrusted).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class DecodeError(ValueError):
    """The XML is not SOAP as PHP writes it. The message never quotes values."""


class PhpObject(dict):
    """A struct that reached PHP as ``stdClass`` (it carried no ``apache:Map`` type)."""


@dataclass(frozen=True)
class Fault:
    """A SOAP fault. ``standard`` is true for SOAP's own codes (``Server``, ``Client``...)."""

    code: str
    string: str
    standard: bool = False


def parse(body: bytes) -> etree._Element:
    """Parse XML safely; raises :class:`lxml.etree.XMLSyntaxError`."""
    return etree.fromstring(body, _PARSER)


def _local(element: etree._Element) -> str:
    tag = element.tag
    return tag[tag.rfind("}") + 1:]


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if child.tag.__class__ is str]  # not comments or PIs


def _type_of(element: etree._Element) -> tuple[str | None, str] | None:
    raw = element.get(_TYPE)
    if raw is None:
        return None
    prefix, _, local = raw.strip().rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    if prefix and namespace is None:
        raise DecodeError(f"<{_local(element)}> has an xsi:type with an undeclared prefix")
    return namespace, local


def decode(element: etree._Element, *, php: bool = False) -> Any:
    """The value an element encodes, by its ``xsi:type``.

    :param php: read it the way PHP's SoapServer reads arguments (item-less Map -> ``None``,
        untyped struct -> :class:`PhpObject`) instead of as a reply (untyped struct -> error).
    """
    if element.get(_NIL) in ("true", "1"):
        return None
    kind = _type_of(element)
    children = _children(element)
    if kind is None or kind in ((XSD, "anyType"), (XSD, "ur-type")):
        if not children:
            return element.text or ""
        if not php:
            raise DecodeError(f"<{_local(element)}> is a structure without an xsi:type")
        return PhpObject((_local(child), decode(child, php=True)) for child in children)
    namespace, name = kind
    if namespace == APACHE and name == "Map":
        if php and not children:
            return None
        return dict(_map_item(item, php) for item in children)
    if namespace == SOAP_ENC and name == "Array":
        return [decode(child, php=php) for child in children]
    if namespace in (XSD, SOAP_ENC) and not children:
        return _scalar(name, element.text or "", element)
    raise DecodeError(f"<{_local(element)}> has an unexpected xsi:type {name!r}")


def _map_item(item: etree._Element, php: bool) -> tuple[str, Any]:
    parts = {_local(child): child for child in _children(item)}
    if _local(item) != "item" or "key" not in parts:
        raise DecodeError("a Map entry without <item><key>")
    key = decode(parts["key"], php=php)
    if not isinstance(key, (str, int)):
        raise DecodeError("a Map key that is not a string or an integer")
    return str(key), (decode(parts["value"], php=php) if "value" in parts else None)


def _scalar(name: str, text: str, element: etree._Element) -> Any:
    try:
        if name in _STRINGS:
            return text
        if name in _INTS:
            return int(text.strip())
        if name in _FLOATS:
            return float(text.strip())
        if name == "boolean":
            flag = text.strip().lower()
            if flag not in ("true", "1", "false", "0"):
                raise ValueError(flag)
            return flag in ("true", "1")
        if name == "base64Binary":
            return base64.b64decode(text, validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise DecodeError(f"<{_local(element)}> is not a valid {name}") from None
    raise DecodeError(f"<{_local(element)}> has an unexpected xsi:type {name!r}")


def read_reply(root: etree._Element) -> Any:
    """The ``return`` value of an rpc reply, or a :class:`Fault` (a reply without one is ``None``)."""
    operation = _body_entry(root)
    if operation.tag == f"{{{SOAP_ENV}}}Fault":
        parts = {_local(child): child for child in _children(operation)}
        if "faultcode" not in parts or "faultstring" not in parts:
            raise DecodeError("a SOAP fault without faultcode or faultstring")
        code = (parts["faultcode"].text or "").strip()
        prefix, _, local = code.rpartition(":")
        standard = bool(prefix) and parts["faultcode"].nsmap.get(prefix) == SOAP_ENV
        return Fault(local if standard else code, parts["faultstring"].text or "", standard)
    values = _children(operation)
    return decode(values[0]) if values else None


def read_request(root: etree._Element) -> tuple[str, list[Any]]:
    """Function name and positional arguments of an rpc call, as PHP's SoapServer sees them."""
    operation = _body_entry(root)
    return _local(operation), [decode(child, php=True) for child in _children(operation)]


def _body_entry(root: etree._Element) -> etree._Element:
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise DecodeError("not a SOAP 1.1 envelope")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    entries = _children(body) if body is not None else []
    if not entries:
        raise DecodeError("a SOAP envelope without a Body entry")
    return entries[0]


# --- writing, the way PHP's SoapServer answers (for the sandbox) -------------------------------

_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def php_reply(function: str, value: Any, uri: str) -> bytes:
    """A ``<functionResponse><return>`` envelope as PHP's SoapServer writes it in non-WSDL mode."""
    nsmap = {"SOAP-ENV": SOAP_ENV, "ns1": uri, "xsd": XSD, "xsi": XSI, "SOAP-ENC": SOAP_ENC, "ns2": APACHE}
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=nsmap)
    root.set(f"{{{SOAP_ENV}}}encodingStyle", SOAP_ENC)
    body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
    response = etree.SubElement(body, f"{{{uri}}}{function}Response")
    _encode(etree.SubElement(response, "return"), value)
    return _DECLARATION + etree.tostring(root, encoding="UTF-8")


def php_fault(code: str, string: str, *, standard: bool = False) -> bytes:
    """A fault envelope; ``standard`` codes (``Server``, ``Client``) get the ``SOAP-ENV:`` prefix."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"SOAP-ENV": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(root, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"SOAP-ENV:{code}" if standard else code
    etree.SubElement(fault, "faultstring").text = string
    return _DECLARATION + etree.tostring(root, encoding="UTF-8")


def _php_type(value: Any) -> str:
    if value is None:
        return "xsd:ur-type"
    if isinstance(value, bool):
        return "xsd:boolean"
    if isinstance(value, int):
        return "xsd:int"
    if isinstance(value, float):
        return "xsd:float"
    if isinstance(value, str):
        return "xsd:string"
    if isinstance(value, dict):
        return "ns2:Map"
    if isinstance(value, list):
        return "SOAP-ENC:Array"
    raise TypeError(f"PHP has no SOAP encoding for {type(value).__name__}")


def _encode(element: etree._Element, value: Any) -> None:
    if value is None:
        element.set(_NIL, "true")
        return
    kind = _php_type(value)
    if isinstance(value, list):
        types = {_php_type(item) for item in value}
        item_type = types.pop() if len(types) == 1 else "xsd:ur-type"
        element.set(_ARRAY_TYPE, f"{item_type}[{len(value)}]")
        element.set(_TYPE, kind)
        for item in value:
            _encode(etree.SubElement(element, "item"), item)
        return
    element.set(_TYPE, kind)
    if isinstance(value, dict):
        for key, item in value.items():
            entry = etree.SubElement(element, "item")
            key_element = etree.SubElement(entry, "key")
            key_element.set(_TYPE, "xsd:int" if isinstance(key, int) else "xsd:string")
            key_element.text = str(key)
            _encode(etree.SubElement(entry, "value"), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = repr(value) if isinstance(value, float) else str(value)
