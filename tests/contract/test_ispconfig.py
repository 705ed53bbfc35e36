"""ISPConfig passes the contract suite, over SOAP and over JSON."""

from __future__ import annotations

from hostsync.contract import ContractSuite
from hostsync_ispconfig.connector import IspconfigConnector
from hostsync_ispconfig.sandbox import IspconfigSandbox

from .samples import CLIENT, DOMAIN, SITE


class IspconfigContract(ContractSuite):
    connector = IspconfigConnector
    sandbox = IspconfigSandbox
    samples = {"client": {k: v for k, v in CLIENT.items() if k != "address2"}, "domain": DOMAIN,
               "site": {**SITE, "php": "php-fpm"}}
    edits = {"domain": {"name": "renamed-lee-design.example"}}
    skip = {"list_pages": "the connector reads each kind with one `-1` call (ISPConfig answers every row at once); "
                          "it has no pages to get wrong",
            "list_page_retried": "one `-1` call per kind: no page to fetch again (the call itself goes through "
                                 "fetch())"}


class TestIspconfigSoapContract(IspconfigContract):
    system = "panel"


class TestIspconfigJsonContract(IspconfigContract):
    system = "panel-json"
