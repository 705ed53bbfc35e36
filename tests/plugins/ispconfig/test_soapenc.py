"""PHP's SOAP encoding: decoding by xsi:type, PHP's way of reading arguments, PHP-style replies."""

from __future__ import annotations

import pytest

from hostsync_ispconfig import soapenc

NS = ('xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/" '
      'xmlns:ns2="http://xml.apache.org/xml-soap"')


def value(xml: str, *, php: bool = False):
    """Decode ``<v ...>...</v>`` with the usual namespaces declared on it."""
    return soapenc.decode(soapenc.parse(f"<v {NS}{xml[2:]}".encode()), php=php)


@pytest.mark.parametrize("xml, expected", [
    ('<v xsi:type="xsd:string"></v>', ""),
    ('<v xsi:type="xsd:string"/>', ""),
    ('<v xsi:nil="true"/>', None),
    ('<v xsi:type="xsd:string">  x </v>', "  x "),
    ('<v xsi:type="xsd:int">-1</v>', -1),
    ('<v xsi:type="xsd:integer">7</v>', 7),
    ('<v xsi:type="xsd:long">9000000000</v>', 9000000000),
    ('<v xsi:type="xsd:boolean">false</v>', False),
    ('<v xsi:type="xsd:boolean">1</v>', True),
    ('<v xsi:type="xsd:float">1.5</v>', 1.5),
    ('<v xsi:type="xsd:base64Binary">w6Rww7Y=</v>', "äpö"),
    ('<v xsi:type="SOAP-ENC:Array" SOAP-ENC:arrayType="xsd:ur-type[0]"/>', []),
    ('<v xsi:type="SOAP-ENC:Array"><item xsi:type="xsd:string">a</item><item xsi:nil="true"/></v>', ["a", None]),
    ('<v xsi:type="ns2:Map"><item><key xsi:type="xsd:string">a</key><value xsi:type="xsd:string"></value></item>'
     '<item><key xsi:type="xsd:int">2</key><value xsi:nil="true"/></item></v>', {"a": "", "2": None}),
    ('<v xsi:type="ns2:Map">\n  <item>\n    <key xsi:type="xsd:string">k</key>\n'
     '    <value xsi:type="xsd:string">v</value>\n  </item>\n</v>', {"k": "v"}),  # pretty-printed
    ('<v>plain</v>', "plain"),
])
def test_decode_by_xsi_type(xml, expected):
    assert value(xml) == expected


def test_empty_string_and_nil_stay_apart_in_a_record():
    row = value('<v xsi:type="ns2:Map"><item><key xsi:type="xsd:string">a</key><value xsi:type="xsd:string"/></item>'
                '<item><key xsi:type="xsd:string">b</key><value xsi:nil="true"/></item></v>')
    assert row == {"a": "", "b": None} and row["a"] is not None


@pytest.mark.parametrize("xml, text", [
    ('<v xsi:type="xsd:int">seven</v>', "not a valid int"),
    ('<v xsi:type="xsd:boolean">maybe</v>', "not a valid boolean"),
    ('<v xsi:type="xsd:base64Binary">***</v>', "not a valid base64Binary"),
    ('<v xsi:type="xsd:duration">P1D</v>', "unexpected xsi:type 'duration'"),
    ('<v xsi:type="foo:Bar">x</v>', "undeclared prefix"),
    ('<v><a>1</a></v>', "structure without an xsi:type"),
    ('<v xsi:type="ns2:Map"><entry/></v>', "Map entry"),
])
def test_decode_refuses_what_php_would_not_send(xml, text):
    with pytest.raises(soapenc.DecodeError, match=text):
        value(xml)


def test_decode_messages_never_quote_values():
    with pytest.raises(soapenc.DecodeError) as caught:
        value('<v xsi:type="xsd:int">s3cret-value</v>')
    assert "s3cret" not in str(caught.value)


def test_php_reads_an_empty_map_as_null_and_a_struct_as_stdclass():
    assert value('<v xsi:type="ns2:Map"/>', php=True) is None
    assert value('<v xsi:type="ns2:Map"/>') == {}
    assert value('<v xsi:type="SOAP-ENC:Array"/>', php=True) == []
    struct = value("<v><email>x@y</email></v>", php=True)
    assert isinstance(struct, soapenc.PhpObject) and struct == {"email": "x@y"}


def test_php_reply_round_trips_and_reads_like_php_wrote_it():
    data = {"s": "a", "e": "", "n": None, "i": 5, "b": True, "f": 1.5, "list": ["x", "y"], "empty": [],
            "rows": [{"a": "1"}, {"a": "2"}]}
    body = soapenc.php_reply("client_get", data, "/remote/index.php")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    text = body.decode()
    for fragment in ('SOAP-ENC:arrayType="ns2:Map[2]"', 'SOAP-ENC:arrayType="xsd:ur-type[0]"',
                     'SOAP-ENC:arrayType="xsd:string[2]"', '<value xsi:nil="true"/>', 'xsi:type="xsd:float">1.5<',
                     "<ns1:client_getResponse>"):
        assert fragment in text
    assert soapenc.read_reply(soapenc.parse(body)) == data


def test_faults():
    fault = soapenc.read_reply(soapenc.parse(soapenc.php_fault("login_failed", "The login failed.")))
    assert fault == soapenc.Fault("login_failed", "The login failed.", False)
    server = soapenc.read_reply(soapenc.parse(soapenc.php_fault("Server", "boom", standard=True)))
    assert server == soapenc.Fault("Server", "boom", True)
    assert b"<faultcode>SOAP-ENV:Server</faultcode>" in soapenc.php_fault("Server", "boom", standard=True)
    empty = soapenc.read_reply(soapenc.parse(soapenc.php_fault("data_processing_error", "")))
    assert empty.string == ""


def test_read_request_by_position():
    body = (f'<SOAP-ENV:Envelope {NS}><SOAP-ENV:Body><ns1:client_get xmlns:ns1="urn:x">'
            '<whatever xsi:type="xsd:string">sid</whatever><p xsi:type="xsd:int">-1</p>'
            "</ns1:client_get></SOAP-ENV:Body></SOAP-ENV:Envelope>").encode()
    assert soapenc.read_request(soapenc.parse(body)) == ("client_get", ["sid", -1])
