"""hostsync.values: the id and text every vendor mapping reads first."""

import pytest

from hostsync.values import ident, text


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("  ", None), (" Ann ", "Ann"), (0, "0"), (12, "12"), ("Zoë\n ", "Zoë"),
])
def test_text(value, expected):
    assert text(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), (0, None), ("0", None), (" 0 ", None), (False, None), (17, "17"), (" 17 ", "17"),
    ("a1b2", "a1b2"),
])
def test_ident_is_none_for_the_ways_vendors_say_no_record(value, expected):
    assert ident(value) == expected
