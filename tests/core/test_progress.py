"""Progress you can watch: the display model, a real terminal (a pty) and systemd's STATUS=."""

from __future__ import annotations

import os
import pty
import re
import socket
import subprocess
import sys
import time

import pytest

from hostsync.memory_vendor import MemoryVendor
from hostsync.progress import JobProgress, Progress, SystemdStatus

from ..conftest import PLUGINS_DIR
from .test_engine_one_way import client


def test_the_numbers_rate_and_eta():
    job = JobProgress("clients", started=100.0, read=300, total=1200, planned=250, written=200, failed=2)
    assert job.text(now=110.0) == "clients: read 300/1200, planned 250, written 200, failed 2, 30/s, ETA 0:30"
    guess = JobProgress("clients", started=100.0, read=50, estimate=100, waiting="panel for 7 s: its rate_limit")
    assert guess.text(now=105.0).endswith("read 50/~100, planned 0, written 0, failed 0, 10/s, ETA 0:05; "
                                          "waiting: panel for 7 s: its rate_limit")
    assert JobProgress("clients", started=100.0, read=5).eta(101.0) is None  # no total: no ETA


class FakeNotifier:
    enabled = True

    def __init__(self) -> None:
        self.sent: list[str] = []

    def status(self, text: str) -> None:
        self.sent.append(text)


def test_systemd_status_is_sent_at_most_once_a_second_and_at_once_for_a_new_job():
    clock = [0.0]
    notifier = FakeNotifier()
    progress = Progress([SystemdStatus(notifier, clock=lambda: clock[0])])  # type: ignore[arg-type]
    for n in range(50):
        clock[0] = n * 0.05  # 2.5 s of updates, 20 a second
        progress.update("clients", read=n, planned=0, written=0, failed=0)
    assert len(notifier.sent) == 3 and notifier.sent[0].startswith("clients: read 0")
    progress.finish("clients")
    progress.update("invoices", read=1, planned=0, written=0, failed=0)
    assert notifier.sent[-1].startswith("invoices: read 1")


@pytest.fixture
def slow_project(project, tmp_path):
    store = tmp_path / "billing.json"
    billing = MemoryVendor("billing", store)
    for n in range(60):
        billing.put("client", client(n))
    project.system("billing", plugin="memory", vendor="billing", store=str(store), read_latency=0.02)
    project.system("panel", plugin="memory", vendor="panel", store=str(tmp_path / "panel.json"))
    project.job("clients", kind="client", source="billing", targets=["panel"])
    project.write()
    return project


def command(project, *args: str) -> list[str]:
    return [sys.executable, "-m", "hostsync", "--config", str(project.config_path), *args]


def test_on_a_terminal_a_live_line_shows_the_numbers_then_disappears_leaving_the_table(slow_project):
    main, child = pty.openpty()
    process = subprocess.Popen(command(slow_project, "sync", "clients"), stdin=child, stdout=child, stderr=child,
                               env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}, close_fds=True)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert process.wait(timeout=60) == 0
    text = out.decode()
    drawn = re.findall(r"\r\x1b\[Kclients: read (\d+)(?:/~?\d+)?, planned (\d+), written (\d+), failed 0, \d+/s", text)
    assert len(drawn) >= 2 and int(drawn[-1][0]) > int(drawn[0][0])  # it moved
    table = text.index("JOB")
    after_line = text[text.rindex("\r\x1b[K", 0, table) + 4:table]  # the line cleared, then only log lines
    assert "clients: read" not in after_line and after_line.endswith("created 60\r\n"), repr(after_line)
    assert "\x1b[K" not in text[table:] and re.search(r"clients\s+ok\s+60", text[table:])


def test_under_systemd_status_carries_the_numbers(slow_project, tmp_path):
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(0.2)
    try:
        process = subprocess.Popen(command(slow_project, "sync", "clients"), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env={**os.environ, "NOTIFY_SOCKET": address})
        messages = []
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                messages.append(sock.recv(4096).decode())
            except socket.timeout:
                continue
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
    finally:
        sock.close()
    statuses = [m for m in messages if m.startswith("STATUS=clients: read")]
    assert statuses, messages
    assert re.match(r"STATUS=clients: read \d+(/~?\d+)?, planned \d+, written \d+, failed 0, \d+/s", statuses[0])
    assert b"\x1b[K" not in out + err  # no terminal here: no line drawn
