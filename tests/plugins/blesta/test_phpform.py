"""The PHP bracket-notation encoder and decoder, checked against PHP itself (php-cli).

PHP-backed tests skip when php is missing, and fail then if HOSTSYNC_REQUIRE_PHP=1 (CI installs it).
"""

from __future__ import annotations

import json
import random
import subprocess
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostsync_blesta import phpform
from hostsync_blesta.phpform import FormError, decode, encode

PHP_SCRIPT = r"""
$jobs = json_decode(stream_get_contents(STDIN), true);
$out = [];
foreach ($jobs as $job) {
    if ($job[0] === 'parse') { $r = []; parse_str($job[1], $r); $out[] = $r; }
    else { $out[] = http_build_query($job[1]); }
}
echo json_encode($out, JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE);
"""


def run_php(php: str, jobs: list[tuple[str, Any]]) -> list[Any]:
    """Run many parse_str / http_build_query jobs in one php process."""
    done = subprocess.run([php, "-d", "error_reporting=0", "-r", PHP_SCRIPT], input=json.dumps(jobs),
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def expected(value: Any) -> Any:
    """What PHP should read back for ``value``, by the documented encoding rules."""
    if isinstance(value, dict):
        out = {str(k): expected(v) for k, v in value.items() if not _empty(v)}
        return list(out.values()) if out and list(out) == [str(i) for i in range(len(out))] else out
    if isinstance(value, (list, tuple)):
        return expected(dict(enumerate(value)))
    if value is None:
        return ""
    if value is True:
        return "1"
    if value is False:
        return "0"
    return str(value)


def expected_top(value: dict[str, Any]) -> dict[str, Any]:
    """The variables PHP defines: by name, empty arrays absent."""
    return {str(k): expected(v) for k, v in value.items() if not _empty(v)}


def _empty(value: Any) -> bool:
    return isinstance(value, (dict, list, tuple)) and all(_empty(v) for v in (value.values() if isinstance(value, dict)
                                                                              else value))


def php_top(value: Any) -> dict[str, Any]:
    """PHP's json_encode prints an array with keys 0..n-1 as a list, also at the top level."""
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return value


CASES: list[dict[str, Any]] = [
    # the official invoices/add example (blesta-api.txt)
    {"vars": {"client_id": 1, "date_billed": "2013-11-20T16:43:00-07:00", "date_due": "2013-11-20T16:43:00-07:00",
              "currency": "USD", "lines": [{"description": "Line item #1", "amount": "5.99"},
                                           {"description": "Line item #2", "amount": "3.75", "qty": 2}],
              "delivery": ["email"]}},
    {"a": {"b": {"c": {"d": ["x", ["y", "z"]]}}}},
    {"empty_string": "", "zero": 0, "zero_text": "0", "false": False, "true": True, "none": None},
    {"vars": {"lines": [], "custom": {}, "numbers": [[]], "name": "kept"}},
    {"t": "Ünïcödé — 日本語 😀 ﷽", "u": "line1\r\nline2\ttab", "k": {"clé": "vålue", "名前": "値"}},
    {"special": "a&b=c+d%e #f?g/h\\i'j\"k<l>m~n"},
    {"keys": {"a&b": 1, "x=y": 2, "p%q": 3, "sp ace": 4, "do.t": 5, "tilde~": 6, "plus+": 7, "hash#": 8}},
    {"custom": {"5": "five", "12": "twelve"}, "list": {"0": "a", "1": "b"}, "gap": {"0": "a", "2": "c"}},
    {"money": Decimal("5.9900"), "float": 1.5, "neg": -3, "big": 12345678901234567890},
    {"filters": {"contact_email": "amélie+billing@example.fr", "company_id": 1}},
]


@pytest.mark.parametrize("value", CASES, ids=range(len(CASES)))
def test_round_trip_without_php(value: dict[str, Any]) -> None:
    assert decode(encode(value)) == expected_top(value)


def test_php_parse_str_reads_what_we_send(php: str) -> None:
    results = run_php(php, [("parse", encode(value)) for value in CASES])
    for value, result in zip(CASES, results):
        assert php_top(result) == expected_top(value), value


def test_bytes_equal_http_build_query(php: str) -> None:
    """Without None (which http_build_query drops and we send empty), our bytes are PHP's bytes."""
    cases = [c for c in CASES if "none" not in c and "money" not in c and "special" not in c]
    cases.append({"special": "a&b=c+d%e #f?g/h\\i'j\"k<l>m~n"})
    results = run_php(php, [("build", value) for value in cases])
    for value, result in zip(cases, results):
        assert encode(value) == result, value


def test_booleans_and_none_are_documented_choices() -> None:
    assert encode({"t": True, "f": False, "n": None}) == "t=1&f=0&n="
    assert decode("t=1&f=0&n=") == {"t": "1", "f": "0", "n": ""}


def test_empty_arrays_send_nothing_so_php_defaults_apply() -> None:
    assert encode({"filters": {}, "lines": [], "page": 1}) == "page=1"


def test_nested_keys_are_bracketed_and_escaped() -> None:
    assert encode({"vars": {"lines": [{"amount": "5.99"}]}}) == "vars%5Blines%5D%5B0%5D%5Bamount%5D=5.99"


@pytest.mark.parametrize("bad", [
    {"a[b]": 1}, {"a": {"b]": 1}}, {"a": {"[b": 1}}, {"sp ace": 1}, {"do.t": 1}, {"": 1}, {"a": {"": 1}},
    {" lead": 1}, {"a": {"\r": 1}}, {"a": {" ": 1}}, {"nul\x00": 1}, {"a": {None: 1}}, {"a": object()},
])
def test_keys_and_values_php_would_misread_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(FormError):
        encode(bad)


def test_more_fields_than_max_input_vars_are_refused() -> None:
    encode({"v": list(range(phpform.MAX_INPUT_VARS))})
    with pytest.raises(FormError, match="max_input_vars"):
        encode({"v": list(range(phpform.MAX_INPUT_VARS + 1))})


def test_nesting_deeper_than_php_allows_is_refused() -> None:
    deep: Any = "x"
    for _ in range(phpform.MAX_NESTING):
        deep = [deep]
    with pytest.raises(FormError, match="nesting"):
        encode({"d": deep})


def test_php_really_truncates_past_max_input_vars(php: str) -> None:
    """Why the limit above exists: PHP drops the rest silently."""
    body = "&".join(f"v[{i}]=x" for i in range(phpform.MAX_INPUT_VARS + 5))
    assert len(run_php(php, [("parse", body)])[0]["v"]) == phpform.MAX_INPUT_VARS


def test_decoder_matches_parse_str_on_odd_input(php: str) -> None:
    """Our parse_str port (the sandbox's) against PHP on thousands of malformed keys."""
    alphabet = ["a", "b", "[", "]", "]]", ".", " ", "%00", "%09", "%A0", "%C2%A0", "=", "&", "0", "1", "-1", "é",
                "+", "%5B", "%5D", "x", "_"]
    rng = random.Random(20240601)
    cases = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(2500)]
    cases += ["a b=1&a.b=2&a[b c]=3&a[x.y]=4", "l[]=1&l[]=2&l[5]=3&l[]=4", "m[1]=a&m[0]=b", "k=1&k=2&k[]=3",
              "q[a]]=1&r[a[b]=2&s[[a]=3", "u[ a ]=1&v[ ]=2&w[]x=3", "x[=1&z[a=3&w[a][b=4"]
    results = run_php(php, [("parse", case) for case in cases])
    mismatches = [(case, result, decode(case)) for case, result in zip(cases, results)
                  if json.dumps(php_top(result), sort_keys=True) != json.dumps(decode(case), sort_keys=True)]
    assert mismatches == []


def test_generated_structures_read_back_in_php(php: str) -> None:
    rng = random.Random(99)
    values = [_random_value(rng, 0) for _ in range(300)]
    values = [{"v": v} for v in values]
    results = run_php(php, [("parse", encode(v)) for v in values])
    for value, result in zip(values, results):
        assert php_top(result) == expected_top(value), value


def test_odd_keys_read_back_in_php(php: str) -> None:
    """Keys the encoder accepts arrive unchanged, whatever characters they hold."""
    rng = random.Random(7)
    pool = ["a", "Z", "0", "9", "\t", "\n", "\x7f", "+", "%", "&", "=", "#", "?", "/", "ä", "\u00a0", "€", "_", "-",
            "'", '"', "\\", "😀", "\r", ",", ";", "(", ")"]

    def key(top: bool) -> str:
        text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 5)))
        return ("k" + text) if top or text in " \t\n\r" else text

    values = [{key(True): {key(False): {key(False): "v"}, key(False): "w"}} for _ in range(500)]
    results = run_php(php, [("parse", encode(v)) for v in values])
    for value, result in zip(values, results):
        assert php_top(result) == expected_top(value), value


def _random_value(rng: random.Random, depth: int) -> Any:
    choice = rng.random()
    if depth < 4 and choice < 0.25:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 4 and choice < 0.45:
        keys = ["id", "amount", "déscription", "0", "7", "a-b", "k_1", "名"]
        return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.choice([None, True, False, 0, 17, -2, "", "0", "x y", "€5", "a&b", "~", "l\r\nn", Decimal("1.10")])


names = st.text(st.characters(blacklist_characters="[]\x00 .", blacklist_categories=("Cs",)), min_size=1, max_size=6)
keys = st.text(st.characters(blacklist_characters="[]\x00", blacklist_categories=("Cs",)), min_size=1,
               max_size=6).filter(lambda k: k not in " \t\n\v\f\r")
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(st.characters(blacklist_categories=("Cs",)),
                                                                         max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=3)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names.filter(lambda k: not k[0].isspace()), values, max_size=4))
def test_round_trip_property(value: dict[str, Any]) -> None:
    assert decode(encode(value)) == expected_top(value)
