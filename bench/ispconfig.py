"""Latency and throughput of the ISPConfig plugin: `python bench/ispconfig.py` (repo root).

Prints the WSDL load time, median call latencies against the Python sandbox and PHP's SoapServer
over SOAP and JSON, and a `hostsync sync` of 500 new clients from the in-memory vendor.
"""
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hostsync.plugins import _import_file  # noqa: E402
from hostsync.testing import HostsyncProject  # noqa: E402
from hostsync_ispconfig.connector import IspconfigConnector  # noqa: E402
from hostsync_ispconfig.sandbox import IspconfigSandbox  # noqa: E402
from hostsync_ispconfig.soap import SoapTransport  # noqa: E402
from tests.plugins.ispconfig.support import PhpServer  # noqa: E402


def median_ms(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000

print(f"SoapTransport() incl. WSDL parse: {median_ms(lambda: SoapTransport('http://x/remote/', {}).close(), 20):.1f} ms")
with IspconfigSandbox(seed=3) as sb, tempfile.TemporaryDirectory() as tmp:
    php = PhpServer(Path(tmp))
    try:
        for label, url in (("python sandbox", sb.url), ("php -S SoapServer", php.url)):
            for transport in ("soap", "json"):
                c = IspconfigConnector("p", {**sb.systems()["panel"], "url": f"{url}/remote/", "transport": transport})
                c.check()
                get = median_ms(lambda: c.get("client", "3"), 200)
                lst = median_ms(lambda: list(c.list("client")), 30)
                print(f"{label:18} {transport:4}: get client {get:5.2f} ms, list 14 clients {lst:5.2f} ms (median)")
                c.close()
    finally:
        php.stop()

# Engine: N clients from the in-memory vendor into the sandbox through `hostsync sync`.
plugins = ROOT / "tests" / "support" / "plugins"
memory = _import_file(plugins / "memory.py")
N = 500
for transport in ("soap", "json"):
    memory.reset()
    with IspconfigSandbox() as sb, tempfile.TemporaryDirectory() as tmp:
        project = HostsyncProject(Path(tmp) / "p", plugins_dir=plugins)
        project.system("billing", plugin="memory", vendor="billing")
        project.system("panel", **sb.systems()["panel" if transport == "soap" else "panel-json"])
        project.job("clients", kind="client", source="billing", targets=["panel"])
        billing = memory.vendor("billing")
        for n in range(N):
            billing.put("client", {"email": f"c{n}@x.example", "first_name": "A", "last_name": f"B{n}", "country": "DE", "status": "active"})
        t = time.perf_counter(); r = project.cli("sync", "clients", "--json"); first = time.perf_counter() - t
        calls = sum(sb.calls.values())
        sb.reset_calls()
        t = time.perf_counter(); project.cli("sync", "clients", "--json"); second = time.perf_counter() - t
        print(f"sync {N} new clients over {transport}: {first:.2f} s ({r.json()[0]['counts']['created']} created, "
              f"{calls} ISPConfig calls); no-op re-run {second:.2f} s ({sum(sb.calls.values())} ISPConfig calls)")
