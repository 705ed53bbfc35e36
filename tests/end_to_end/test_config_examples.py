"""Every example in config/ loads through `hostsync config validate` (commented-out tables too, once
uncommented), with its environment variables set and its credential files present."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from hostsync.cli.config_cmd import to_toml

CONFIG = Path(__file__).parents[2] / "config"
EXAMPLES = sorted(CONFIG.glob("*.toml"))


def uncommented(text: str) -> str:
    """The example with its commented-out settings and tables switched on ("# key = ..." lines)."""
    lines = []
    for line in text.splitlines():
        match = re.match(r"^# ?((\[[\w.-]+\])|([\w\"-][\w\" .-]* = .*))$", line)
        lines.append(match.group(1) if match else line)
    return "\n".join(lines) + "\n"


def with_peers(text: str) -> str:
    """A snippet plus the systems of the production example it refers to (a WHMCS "billing", ...)."""
    data = tomllib.loads(text)
    systems = data.get("systems", {})
    wanted = {system.get("shares_ids_with") for system in systems.values()}
    for job in data.get("jobs", {}).values():
        wanted |= {job.get("source"), *job.get("targets", [])}
    peers = tomllib.loads((CONFIG / "hostsync.example.toml").read_text())["systems"]
    missing: dict[str, dict] = {}
    while wanted := {n for n in wanted if n and n not in systems and n not in missing}:  # peers' hosts too
        missing.update({name: peers[name] for name in wanted})
        wanted = {peers[name].get("shares_ids_with") for name in wanted}
    missing = dict(sorted(missing.items()))
    return text + ("\n" + to_toml({"systems": missing}) if missing else "")


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
@pytest.mark.parametrize("variant", ["as shipped", "uncommented"])
def test_every_example_validates(tmp_path, example, variant):
    text = example.read_text()
    if variant == "uncommented":
        text = uncommented(text)
        if text == example.read_text() + ("" if example.read_text().endswith("\n") else "\n"):
            pytest.skip("nothing commented out")
    if "[systems." not in text:
        pytest.skip("holds no system")
    path = tmp_path / example.name
    text = with_peers(text)
    path.write_text(text)
    (tmp_path / "plugins").mkdir()  # for an uncommented plugins_dir
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    env = {"PATH": "/usr/bin:/bin", "CREDENTIALS_DIRECTORY": str(credentials)}
    for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text):
        env[name] = f"example-{name.lower()}"
    for name in re.findall(r'^\s*\w+_file\s*=\s*"([^"]+)"', text, re.M):
        target = Path(name) if name.startswith("/") else credentials / name
        if not name.startswith("/"):
            target.write_text("example-secret\n")
        else:
            pytest.skip(f"names an absolute credential path {name}")
    result = subprocess.run([sys.executable, "-m", "hostsync", "--config", str(path), "config", "validate"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: valid (")
