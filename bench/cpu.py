"""CPU per record of a WHMCS -> Blesta client mirror, without the network.

    python bench/cpu.py                      # 2,000 clients, best of 3
    python bench/cpu.py --clients 5000 --repeat 1 --profile /tmp/cpu.prof

The WHMCS and Blesta sandboxes answer in this process through an httpx transport that hands each
request straight to the sandbox (no socket, no latency), so the run is all CPU. The sandboxes' own
time is measured around each request (thread CPU time) and taken out: what is printed is hostsync's
CPU (engine, state, connectors, codecs, httpx) per record, for the initial sync, a no-op run and a
run where 1 % of the clients changed. With ``--profile`` the initial sync's profile is written (the
sandboxes' share in it is visible under ``Sandbox.dispatch``).
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import tempfile
import threading
import time
from pathlib import Path


import httpx

sys.path.insert(0, str(Path(__file__).parent))
from mirror import config, whmcs_clients  # noqa: E402

from hostsync import http as hostsync_http  # noqa: E402
from hostsync.config import load_config  # noqa: E402
from hostsync.engine import Runtime, sync_job  # noqa: E402
from hostsync.plugins import load_plugins  # noqa: E402
from hostsync.sandbox import Request, Sandbox  # noqa: E402


class InProcess(httpx.BaseTransport):
    """Hands each request to the sandbox serving its port, in the calling thread; counts its CPU."""

    def __init__(self, boxes: dict[int, Sandbox]) -> None:
        self.boxes = boxes
        self.lock = threading.Lock()
        self.sandbox_cpu = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        box = self.boxes[request.url.port or 80]
        body = request.read()
        started = time.thread_time()
        response, _ = box.dispatch(Request(request.method, request.url.path, request.url.query.decode(),
                                           request.headers, body, "127.0.0.1"))
        assert response is not None
        payload = response.body.encode() if isinstance(response.body, str) else response.body
        spent = time.thread_time() - started
        with self.lock:
            self.sandbox_cpu += spent
        return httpx.Response(response.status, headers=response.headers, content=payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="runs from scratch; the least CPU of each is shown")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the (last) initial sync here")
    args = parser.parse_args()

    from hostsync_blesta.sandbox import BlestaSandbox
    from hostsync_whmcs.sandbox import WhmcsSandbox

    whmcs, blesta = WhmcsSandbox().start(), BlestaSandbox().start()  # started for their URLs; not called
    transport = InProcess({int(box.url.rsplit(":", 1)[1]): box for box in (whmcs, blesta)})
    hostsync_http._network_transport = lambda verify, limits: transport  # type: ignore[assignment]
    plugins = load_plugins(env={"HOSTSYNC_LOAD_PLUGINS": "whmcs,blesta"})
    systems = {"billing": whmcs.systems()["billing"], "blesta": blesta.systems()["blesta"]}
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        whmcs.load({**whmcs._empty(), **whmcs_clients(args.clients)})
        blesta.reset()
        with tempfile.TemporaryDirectory() as folder:
            path = config(Path(folder), systems, args.concurrency)
            for phase in ("initial", "no-op", "1%"):
                if phase == "1%":
                    for n in range(1, args.clients + 1, 100):
                        whmcs.edit("client", str(n), city=f"Moved {n}")
                cfg = load_config(path, plugins)
                profiler = cProfile.Profile() if args.profile and phase == "initial" else None
                transport.sandbox_cpu = 0.0
                cpu, wall = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                with Runtime(cfg, plugins) as rt:
                    result = sync_job(rt, "clients")
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                assert result.status == "ok", result
                own = cpu - transport.sandbox_cpu
                best[phase] = min(best.get(phase, own), own)
                print(f"  {phase:<8} {wall:6.2f} s wall, {cpu:6.2f} s CPU of which the sandboxes "
                      f"{transport.sandbox_cpu:5.2f} s: hostsync {1000 * own / args.clients:.3f} ms per client "
                      f"{ {k: v for k, v in result.counts.items() if v} }", file=sys.stderr)
    whmcs.stop()
    blesta.stop()
    print(f"WHMCS -> Blesta clients, {args.clients} clients, no network; hostsync's CPU per client "
          f"(least of {args.repeat}):")
    for phase, seconds in best.items():
        print(f"  {phase:<8} {1000 * seconds / args.clients:7.3f} ms per client ({seconds:.2f} s)")


if __name__ == "__main__":
    main()
