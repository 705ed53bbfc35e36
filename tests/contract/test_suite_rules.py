"""The suite's own rules, seen as a plugin author sees them (a pytest run of a test file): every
skip needs a reason and a real check; strictness decides whether a check the suite cannot set up
fails or skips, and --contract-strictness overrides it."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

SUITE = """
from hostsync import memory_vendor
from hostsync.contract import ContractSuite


class TestMemory(ContractSuite):
    connector = memory_vendor.MemoryConnector
    {body}

    @classmethod
    def start_vendor(cls):
        vendor = memory_vendor.MemoryVendor("rules", password="rules-secret-31")
        memory_vendor.VENDORS["rules"] = vendor
        return vendor

    @classmethod
    def stop_vendor(cls, vendor):
        memory_vendor.VENDORS.pop("rules", None)

    @classmethod
    def reset_vendor(cls, vendor):
        vendor.data = {kind: {} for kind in vendor.data}
        vendor.calls.clear()

    def connector_options(self, vendor):
        return {"vendor": "rules", "password": "rules-secret-31"}

    def requests(self, vendor):
        return sum(vendor.calls.values())

    def can_inject(self, vendor):
        return False
"""


def run(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    body = textwrap.indent(textwrap.dedent(body).strip(), "    ").strip()
    pytester.makepyfile(test_suite=textwrap.dedent(SUITE).replace("{body}", body))
    return pytester.runpytest_inprocess("-q", "-rs", "-p", "no:cacheprovider", "-k", "create_then_get and client",
                                        *args)


def test_high_strictness_fails_a_check_it_cannot_set_up_and_says_what_to_add(pytester):
    result = run(pytester, "samples = {}")
    result.assert_outcomes(failed=1)
    assert ("create_then_get[client]: give samples['client']: one client to create "
            "(or skip it with a reason: strictness is high)") in result.stdout.str()


def test_low_strictness_skips_it_with_the_same_message(pytester):
    result = run(pytester, 'samples = {}\nstrictness = "low"')
    result.assert_outcomes(skipped=1)
    assert "create_then_get[client]: give samples['client']: one client to create\n" in result.stdout.str()
    assert run(pytester, "samples = {}", "--contract-strictness", "low").ret == 0  # the option overrides


def test_a_skip_needs_a_reason_and_a_real_check(pytester):
    reasonless = run(pytester, 'skip = {"create_then_get": " "}')
    reasonless.assert_outcomes(errors=1)
    assert "skip['create_then_get'] has no reason: every skipped check needs one" in reasonless.stdout.str()
    stale = run(pytester, 'skip = {"create_and_get": "renamed"}')
    stale.assert_outcomes(errors=1)
    assert "skip names 'create_and_get', which is no check of this suite" in stale.stdout.str()
    explained = run(pytester, 'skip = {"create_then_get[client]": "the vendor creates no clients"}')
    explained.assert_outcomes(skipped=1)
    assert "create_then_get[client]: the vendor creates no clients" in explained.stdout.str()


def test_a_sample_makes_it_run_and_pass(pytester):
    run(pytester, 'samples = {"client": {"email": "ann@example.com"}}').assert_outcomes(passed=1)
