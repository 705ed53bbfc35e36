"""``hostsync.connector.Memo``: a connector's shared cache fills each key once, whatever the number
of threads asking at once; a fill that fails is not kept."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hostsync import Transient
from hostsync.connector import Memo


def test_threads_asking_for_a_key_being_filled_wait_for_that_one_fill():
    memo, fills, started, release = Memo(), [], threading.Event(), threading.Event()

    def fill(key):
        def read():
            fills.append(key)
            started.set()
            release.wait(10)
            return f"states of {key}"
        return read

    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(memo.get, "DE", fill("DE"))
        assert started.wait(10)  # the first fill is under way: seven more threads ask meanwhile
        others = [pool.submit(memo.get, "DE", fill("DE")) for _ in range(7)]
        other_key = pool.submit(memo.get, "US", lambda: "states of US")
        assert other_key.result(10) == "states of US"  # another key does not wait for it
        assert memo.peek("DE") is None
        release.set()
        assert {first.result(10), *(f.result(10) for f in others)} == {"states of DE"}
    assert fills == ["DE"] and memo.peek("DE") == "states of DE"


def test_a_failed_fill_is_not_kept():
    memo = Memo()

    def broken():
        raise Transient("HTTP 502")

    with pytest.raises(Transient):
        memo.get("DE", broken)
    assert memo.get("DE", lambda: {"Bayern": "BY"}) == {"Bayern": "BY"}
