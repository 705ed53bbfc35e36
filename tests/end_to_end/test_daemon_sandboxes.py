"""`hostsync daemon` in a subprocess, against the sandboxes: a client added in WHMCS reaches ISPConfig
and Blesta within a few periods; SIGHUP starts a new job; SIGTERM exits 0 with nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from hostsync.cli.config_cmd import to_toml
from hostsync.config import load_config
from hostsync.demo import demo_config, start_sandboxes
from hostsync.engine import Runtime
from hostsync.model import Record
from hostsync.plugins import load_plugins
from hostsync.state import State

from ..core.test_daemon import NotifySocket
from .support import emails, inventory

pytestmark = pytest.mark.slow


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)


def test_the_daemon_keeps_the_sandboxes_in_step(tmp_path):
    plugins = load_plugins()
    boxes = start_sandboxes(plugins)
    notify = NotifySocket(tmp_path / "notify.sock")
    config_path = tmp_path / "hostsync.toml"
    data = demo_config(boxes)
    data["jobs"] = {"clients": {**data["jobs"]["clients"], "every": "1s"}}
    config_path.write_text(to_toml(data))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSTSYNC_", "NOTIFY_", "WATCHDOG_"))}
    env["NOTIFY_SOCKET"] = str(notify.path)
    daemon = subprocess.Popen([sys.executable, "-m", "hostsync", "--config", str(config_path), "daemon"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        config = load_config(config_path, plugins)
        # the test's own connection to the systems (its state is a throw-away one: the daemon owns the file)
        with Runtime(config, plugins, state=State.open_memory(), close_state=True) as rt:
            notify.wait_for("READY=1")
            wait_until(lambda: len(inventory(rt, "panel", "client")) == len(inventory(rt, "billing", "client")))
            rt.connector("billing").create("client", Record("client", None, {
                "email": "new@example.org", "first_name": "Nadia", "last_name": "Neu", "address1": "Ring 1",
                "city": "Köln", "postcode": "50667", "country": "DE", "phone": "+49 221 1", "status": "active"}))
            wait_until(lambda: "new@example.org" in emails(inventory(rt, "panel", "client"))
                       and "new@example.org" in emails(inventory(rt, "blesta", "client")))

            data["jobs"]["domains"] = {"kind": "domain", "source": "billing", "targets": ["panel"], "every": "1s"}
            config_path.write_text(to_toml(data))
            daemon.send_signal(signal.SIGHUP)
            notify.wait_for("RELOADING=1")
            wait_until(lambda: len(inventory(rt, "panel", "domain")) == len(inventory(rt, "billing", "domain")) > 0)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=20)
        notify.close()
    try:
        assert daemon.returncode == 0, err
        # nothing half-written: the next run has nothing to send
        result = subprocess.run([sys.executable, "-m", "hostsync", "--config", str(config_path), "sync", "--all",
                                 "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert [(r["job"], r["writes"]) for r in json.loads(result.stdout)] == [("clients", 0), ("domains", 0)]
    finally:
        for box in boxes.values():
            box.stop()

