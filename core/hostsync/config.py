"""Loading and validating ``hostsync.toml``.

Every problem is a :class:`~hostsync.errors.ConfigError` naming the file, the key path and what is
wrong (with the known alternatives where that helps); unknown keys are errors, never ignored.
Secrets come from the environment (``${VAR}``) or from files (``KEY_file = "path"``, relative paths
resolved in ``$CREDENTIALS_DIRECTORY`` when systemd provides one), and are kept apart so that
``config show``, logs and the state store never see them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from .connector import Connector, Setting
from .errors import ConfigError
from .model import KINDS
from .plugins import CORE_SYSTEM_KEYS, Plugins, load_plugins

SEARCH_PATHS = (Path("hostsync.toml"), Path("/etc/hostsync/hostsync.toml"))
LOG_LEVELS = ("debug", "info", "warning", "error")
DELETES = ("ignore", "mirror")
DIRECTIONS = ("one-way", "two-way")
CONFLICT_POLICIES = ("manual", "source-wins", "target-wins", "newest-wins")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_VAR = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\})")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_SIZE = re.compile(r"^(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$")
_SIZE_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "KB": 1000, "MB": 1000 ** 2,
               "GB": 1000 ** 3}
DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 60.0
DEFAULT_MAX_REPLY_SIZE = 32 * 1024 ** 2
#: Keys of ``[hostsync]`` for the daemon's Prometheus metrics (see :mod:`hostsync.metrics`).
METRICS_KEYS = ("metrics_textfile", "metrics_listen", "metrics_listen_public")
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
               "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0}


@dataclass(frozen=True)
class RateLimit:
    """``count`` calls per ``period`` seconds."""

    count: int
    period: float
    text: str

    @property
    def per_second(self) -> float:
        return self.count / self.period


@dataclass(frozen=True)
class SystemConfig:
    """One configured system: a plugin instance with its validated settings (secrets resolved)."""

    name: str
    plugin: str
    options: dict[str, Any]
    secret_keys: frozenset[str]
    concurrency: int
    rate_limit: RateLimit | None
    shares_ids_with: str | None = None
    #: seconds a request may wait for the next byte (connect, send, each read)
    timeout: float = DEFAULT_TIMEOUT
    #: seconds a whole request may take, connect to last byte of the reply
    deadline: float = DEFAULT_DEADLINE
    #: bytes a reply may have; a longer one is refused while it streams
    max_reply_size: int = DEFAULT_MAX_REPLY_SIZE
    verify_tls: bool = True
    #: seconds after a write of unknown outcome before a lookup may conclude it did not land
    #: (``None``: twice the ``timeout``)
    settle_delay: float | None = None

    @property
    def settle_seconds(self) -> float:
        return self.settle_delay if self.settle_delay is not None else 2 * self.timeout

    def connector_options(self) -> dict[str, Any]:
        """What the connector is constructed with: its own settings plus the core's transport keys."""
        return {**self.options, "concurrency": self.concurrency, "timeout": self.timeout,
                "deadline": self.deadline, "max_reply_size": self.max_reply_size, "verify_tls": self.verify_tls}

    def redacted(self) -> dict[str, Any]:
        """The settings as ``config show`` prints them: secrets as ``***``."""
        out: dict[str, Any] = {"plugin": self.plugin, "concurrency": self.concurrency}
        if self.rate_limit:
            out["rate_limit"] = self.rate_limit.text
        if self.shares_ids_with:
            out["shares_ids_with"] = self.shares_ids_with
        out.update(timeout=self.timeout, deadline=self.deadline, max_reply_size=format_size(self.max_reply_size),
                   settle_delay=format_duration(self.settle_seconds), verify_tls=self.verify_tls)
        for key, value in self.options.items():
            out[key] = "***" if key in self.secret_keys else _redact_nested(value, self.secret_keys, key)
        return out

    def material(self) -> bytes:
        """Everything that identifies this configuration, secrets included (for change detection only;
        it is hashed with a slow salted hash before it is stored)."""
        return json.dumps({"plugin": self.plugin, "options": self.options}, sort_keys=True, default=str).encode()


def _redact_nested(value: Any, secret_keys: frozenset[str], prefix: str) -> Any:
    if isinstance(value, dict):
        return {k: "***" if f"{prefix}.{k}" in secret_keys else _redact_nested(v, secret_keys, f"{prefix}.{k}")
                for k, v in value.items()}
    return value


@dataclass(frozen=True)
class JobConfig:
    """One reconciliation job."""

    name: str
    kind: str
    source: str
    targets: tuple[str, ...]
    every: float | None = None
    cron: str | None = None
    match: tuple[str, ...] = ()
    deletes: str = "ignore"
    direction: str = "one-way"
    conflicts: str = "manual"
    transforms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    overlap: float = 300.0

    @property
    def schedule(self) -> str:
        if self.cron:
            return f"cron {self.cron}"
        if self.every:
            return f"every {format_duration(self.every)}"
        return "manual"

    @property
    def two_way(self) -> bool:
        return self.direction == "two-way"


@dataclass(frozen=True)
class Config:
    path: Path
    state_path: Path
    log_level: str
    plugins_dir: Path | None
    systems: dict[str, SystemConfig]
    jobs: dict[str, JobConfig]
    #: ``[hostsync] metrics_textfile``: where the daemon writes its metrics for node_exporter.
    metrics_textfile: Path | None = None
    #: ``[hostsync] metrics_listen``: (host, port) the daemon serves ``/metrics`` on.
    metrics_listen: tuple[str, int] | None = None

    @property
    def secret_values(self) -> frozenset[str]:
        """Every secret value, for the log redaction filter."""
        values: set[str] = set()
        for system in self.systems.values():
            for key in system.secret_keys:
                value: Any = system.options
                for part in key.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if isinstance(value, str) and value:
                    values.add(value)
        return frozenset(values)

    def redacted(self) -> dict[str, Any]:
        head: dict[str, Any] = {"state": str(self.state_path), "log_level": self.log_level}
        if self.plugins_dir:
            head["plugins_dir"] = str(self.plugins_dir)
        if self.metrics_textfile:
            head["metrics_textfile"] = str(self.metrics_textfile)
        if self.metrics_listen:
            head["metrics_listen"] = format_listen(self.metrics_listen)
        jobs = {}
        for job in self.jobs.values():
            entry: dict[str, Any] = {"kind": job.kind, "source": job.source, "targets": list(job.targets)}
            if job.every:
                entry["every"] = format_duration(job.every)
            if job.cron:
                entry["cron"] = job.cron
            entry.update(match=list(job.match), deletes=job.deletes, direction=job.direction)
            if job.two_way:
                entry["conflicts"] = job.conflicts
            if job.transforms:
                entry["transforms"] = {k: list(v) for k, v in job.transforms.items()}
            entry["overlap"] = format_duration(job.overlap)
            jobs[job.name] = entry
        return {"hostsync": head, "systems": {n: s.redacted() for n, s in self.systems.items()}, "jobs": jobs}


# --- helpers -------------------------------------------------------------------------------

def find_config(path: str | Path | None, env: Mapping[str, str]) -> Path:
    """``--config``, else ``$HOSTSYNC_CONFIG``, else ``./hostsync.toml``, else ``/etc/hostsync/hostsync.toml``."""
    if path:
        return Path(path)
    if env.get("HOSTSYNC_CONFIG"):
        return Path(env["HOSTSYNC_CONFIG"])
    for candidate in SEARCH_PATHS:
        if candidate.exists():
            return candidate
    raise ConfigError("no configuration found (looked for ./hostsync.toml and /etc/hostsync/hostsync.toml; "
                      "pass --config PATH or set HOSTSYNC_CONFIG)")


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", file=str(path)) from None


def parse_duration(text: Any) -> float:
    """``"90s"``, ``"15m"``, ``"1h30m"``, ``"1d"`` -> seconds."""
    if isinstance(text, str):
        match = _DURATION.match(text.strip())
        if match and any(match.groups()):
            d, h, m, s = (int(g or 0) for g in match.groups())
            seconds = d * 86400 + h * 3600 + m * 60 + s
            if seconds > 0:
                return float(seconds)
    raise ValueError(f"bad duration {text!r} (use e.g. 30s, 15m, 1h, 1h30m, 1d)")


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def parse_size(value: Any) -> int:
    """``1048576``, ``"512KiB"``, ``"32MiB"``, ``"1GB"`` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        match = _SIZE.match(value.strip())
        if match and int(match.group(1)) > 0:
            return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    raise ValueError(f"bad size {value!r} (use bytes, or e.g. 512KiB, 32MiB, 1GiB)")


def format_size(size: int) -> str:
    for unit in ("GiB", "MiB", "KiB"):
        if size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return str(size)


def parse_rate(text: Any) -> RateLimit:
    """``"60/min"``, ``"5/s"``, ``"1000/hour"`` -> :class:`RateLimit`."""
    if isinstance(text, str) and "/" in text:
        count, unit = (part.strip() for part in text.split("/", 1))
        if count.isdigit() and int(count) > 0 and unit in _RATE_UNITS:
            return RateLimit(int(count), _RATE_UNITS[unit], text)
    raise ValueError(f"bad rate limit {text!r} (use e.g. 60/min, 5/s, 1000/hour)")


def parse_listen(text: Any) -> tuple[str, int]:
    """``"127.0.0.1:9477"``, ``"[::1]:9477"``, ``"localhost:9477"`` -> (IP address, port)."""
    usage = f"bad address {text!r} (use HOST:PORT with an IP address, e.g. 127.0.0.1:9477 or [::1]:9477)"
    if not isinstance(text, str) or ":" not in text:
        raise ValueError(usage)
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    host = "127.0.0.1" if host == "localhost" else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(usage) from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port in {text!r} (1 to 65535)")
    return host, int(port)


def format_listen(listen: tuple[str, int]) -> str:
    host, port = listen
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _choices(values: Iterator[str] | Any) -> str:
    return ", ".join(str(v) for v in values)


class _Loader:
    """Validates one parsed file; ``fail`` raises with the file name and key path."""

    def __init__(self, path: Path, plugins: Plugins, env: Mapping[str, str]) -> None:
        self.path = path
        self.plugins = plugins
        self.env = env

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=str(self.path), key=key)

    def table(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {_type_name(value)}")
        return value

    def unknown(self, key: str, table: Mapping[str, Any], known: Iterator[str] | Any) -> None:
        known = list(known)
        for name in table:
            if name not in known:
                raise self.fail(f"{key}.{name}" if key else name,
                                f"unknown key (known: {_choices(sorted(known))})")

    def interpolate(self, key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value

        def replace(match: re.Match[str]) -> str:
            if match.group(1) == "$":
                return "$"
            var = match.group(2)
            if var not in self.env:
                raise self.fail(key, f"environment variable {var} is not set")
            return self.env[var]

        return _VAR.sub(replace, value)

    # -- sections -----------------------------------------------------------------------------

    def load(self, raw: dict[str, Any]) -> Config:
        self.unknown("", raw, ("hostsync", "systems", "jobs"))
        head = self.table("hostsync", raw.get("hostsync", {}))
        self.unknown("hostsync", head, ("state", "log_level", "plugins_dir", *METRICS_KEYS))
        base = self.path.resolve().parent
        state = head.get("state", "hostsync.db")
        if not isinstance(state, str) or not state:
            raise self.fail("hostsync.state", "expected a file path")
        log_level = head.get("log_level", "info")
        if log_level not in LOG_LEVELS:
            raise self.fail("hostsync.log_level", f"unknown level {log_level!r} (known: {_choices(LOG_LEVELS)})")
        plugins_dir = head.get("plugins_dir")
        if plugins_dir is not None and not isinstance(plugins_dir, str):
            raise self.fail("hostsync.plugins_dir", "expected a directory path")

        systems_raw = self.table("systems", raw.get("systems", {}))
        systems = {name: self.system(name, value) for name, value in systems_raw.items()}
        for system in systems.values():
            other = system.shares_ids_with
            if other is not None and other not in systems:
                raise self.fail(f"systems.{system.name}.shares_ids_with",
                                f"unknown system {other!r} (known: {_choices(sorted(systems))})")
        jobs_raw = self.table("jobs", raw.get("jobs", {}))
        jobs = {name: self.job(name, value, systems) for name, value in jobs_raw.items()}
        # a relative state path lives in systemd's StateDirectory= when there is one, else beside the config
        state_base = Path(self.env["STATE_DIRECTORY"].split(":")[0]) if self.env.get("STATE_DIRECTORY") else base
        return Config(self.path, state_base / Path(self.interpolate("hostsync.state", state)), log_level,
                      base / plugins_dir if plugins_dir else None, systems, jobs, *self.metrics(head, base))

    def metrics(self, head: Mapping[str, Any], base: Path) -> tuple[Path | None, tuple[str, int] | None]:
        """``metrics_textfile`` (a ``.prom`` file: node_exporter reads no other) and ``metrics_listen``
        (``HOST:PORT``, loopback unless ``metrics_listen_public = true``)."""
        textfile = head.get("metrics_textfile")
        if textfile is not None:
            textfile = self.interpolate("hostsync.metrics_textfile", textfile)
            if not isinstance(textfile, str) or not textfile.endswith(".prom") or textfile == ".prom":
                raise self.fail("hostsync.metrics_textfile", "expected a file path ending in .prom (node_exporter's "
                                "textfile collector reads only *.prom files)")
        public = head.get("metrics_listen_public", False)
        if not isinstance(public, bool):
            raise self.fail("hostsync.metrics_listen_public", "expected true or false")
        listen = head.get("metrics_listen")
        if listen is not None:
            try:
                listen = parse_listen(listen)
            except ValueError as exc:
                raise self.fail("hostsync.metrics_listen", str(exc)) from None
            if not public and not ipaddress.ip_address(listen[0]).is_loopback:
                raise self.fail("hostsync.metrics_listen", f"{listen[0]} is reachable from other machines; use "
                                "127.0.0.1 or [::1], or set metrics_listen_public = true to mean it")
        return (base / textfile if textfile else None), listen

    def system(self, name: str, value: Any) -> SystemConfig:
        key = f"systems.{name}"
        if not NAME.match(name):
            raise self.fail(key, "system names may hold letters, digits, '_', '.' and '-'")
        table = self.table(key, value)
        plugin = table.get("plugin")
        if plugin is None:
            raise self.fail(f"{key}.plugin", f"missing (known plugins: {_choices(sorted(self.plugins.connectors))})")
        if plugin not in self.plugins.connectors:
            raise self.fail(f"{key}.plugin", f"unknown plugin {plugin!r} "
                            f"(known: {_choices(sorted(self.plugins.connectors)) or 'none installed'})")
        connector = self.plugins.connectors[plugin]
        concurrency = table.get("concurrency", connector.default_concurrency)
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 1 <= concurrency <= 64:
            raise self.fail(f"{key}.concurrency", f"expected a whole number from 1 to 64, got {concurrency!r}")
        rate_text = table.get("rate_limit", connector.default_rate_limit)
        try:
            rate = parse_rate(rate_text) if rate_text is not None else None
        except ValueError as exc:
            raise self.fail(f"{key}.rate_limit", str(exc)) from None
        shares = table.get("shares_ids_with")
        if shares is not None and (not isinstance(shares, str) or shares == name):
            raise self.fail(f"{key}.shares_ids_with", "expected the name of another system")
        timeout = self.seconds(f"{key}.timeout", table.get("timeout", DEFAULT_TIMEOUT), 0.01, 3600)
        deadline = self.seconds(f"{key}.deadline", table.get("deadline", max(DEFAULT_DEADLINE, timeout)), 0.01, 86400)
        if deadline < timeout:
            raise self.fail(f"{key}.deadline", f"must be at least the timeout ({timeout:g} s)")
        settle = table.get("settle_delay")
        if settle is not None:
            settle = self.seconds(f"{key}.settle_delay", settle, 0, 86400)
        try:
            max_reply = parse_size(table.get("max_reply_size", DEFAULT_MAX_REPLY_SIZE))
        except ValueError as exc:
            raise self.fail(f"{key}.max_reply_size", str(exc)) from None
        verify = table.get("verify_tls", True)
        if not isinstance(verify, bool):
            raise self.fail(f"{key}.verify_tls", f"expected true or false, got {_type_name(verify)}")
        rest = {k: v for k, v in table.items() if k not in CORE_SYSTEM_KEYS}
        options, secrets = self.settings(key, rest, connector.settings, connector, CORE_SYSTEM_KEYS)
        return SystemConfig(name, plugin, options, secrets, concurrency, rate, shares, float(timeout),
                            float(deadline), max_reply, verify, None if settle is None else float(settle))

    def seconds(self, key: str, value: Any, low: float, high: float) -> float:
        """A number of seconds from ``low`` to ``high``, or a duration string (``"90s"``, ``"2m"``)."""
        if isinstance(value, str):
            try:
                value = parse_duration(value)
            except ValueError as exc:
                raise self.fail(key, str(exc)) from None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(key, f"expected seconds from {low:g} to {high:g}, got {value!r}")
        return float(value)

    def settings(self, key: str, table: dict[str, Any], specs: tuple[Setting, ...] | Any,
                 connector: type[Connector], core: tuple[str, ...] = ()) -> tuple[dict[str, Any], frozenset[str]]:
        known = [*core, *(s.name for s in specs), *(f"{s.name}_file" for s in specs if s.secret)]
        for name in table:
            if name not in known:
                raise self.fail(f"{key}.{name}", f"unknown key for plugin {connector.name!r} "
                                f"(known: {_choices(sorted(known))})")
        options: dict[str, Any] = {}
        secrets: set[str] = set()
        for spec in specs:
            path = f"{key}.{spec.name}"
            file_key = f"{spec.name}_file"
            if spec.secret and file_key in table:
                if spec.name in table:
                    raise self.fail(path, f"give either {spec.name} or {file_key}, not both")
                value: Any = self.secret_file(f"{key}.{file_key}", table[file_key])
            elif spec.name in table:
                value = self.interpolate(path, table[spec.name])
            elif spec.required:
                hint = f" (or {file_key})" if spec.secret else ""
                raise self.fail(path, f"missing required key{hint}")
            else:
                value = spec.default
                if value is None:
                    continue
            value = self.typed(path, spec, value, connector, secrets)
            if spec.secret:
                secrets.add(spec.name)
            options[spec.name] = value
        return options, frozenset(secrets)

    def typed(self, path: str, spec: Setting, value: Any, connector: type[Connector], secrets: set[str]) -> Any:
        expected = {"str": str, "url": str, "int": int, "float": (int, float), "bool": bool, "list": list,
                    "table": dict}[spec.type]
        if not isinstance(value, expected) or (spec.type in ("int", "float") and isinstance(value, bool)):
            raise self.fail(path, f"expected {_article(spec.type)}, got {_type_name(value)}")
        if spec.type == "url" and not re.match(r"^https?://[^/\s]+", value):
            raise self.fail(path, f"expected an http:// or https:// URL, got {value!r}")
        if spec.type == "list":
            value = [self.interpolate(f"{path}[{i}]", item) for i, item in enumerate(value)]
        if spec.choices and value not in spec.choices:
            raise self.fail(path, f"unknown value {value!r} (known: {_choices(spec.choices)})")
        if spec.type == "table" and spec.fields:
            sub, sub_secrets = self.settings(path, value, spec.fields, connector)
            secrets.update(f"{spec.name}.{name}" for name in sub_secrets)
            return sub
        if spec.type == "table":
            return {k: self.interpolate(f"{path}.{k}", v) for k, v in value.items()}
        return value

    def secret_file(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, "expected a file path")
        path = Path(self.interpolate(key, value))
        if not path.is_absolute():
            credentials = self.env.get("CREDENTIALS_DIRECTORY")
            path = Path(credentials) / path if credentials else self.path.resolve().parent / path
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise self.fail(key, f"cannot read {path}: {exc.strerror or exc}") from None

    def job(self, name: str, value: Any, systems: dict[str, SystemConfig]) -> JobConfig:
        key = f"jobs.{name}"
        if not NAME.match(name):
            raise self.fail(key, "job names may hold letters, digits, '_', '.' and '-'")
        table = self.table(key, value)
        self.unknown(key, table, ("kind", "source", "targets", "every", "cron", "match", "deletes",
                                  "direction", "conflicts", "transforms", "overlap"))
        for required in ("kind", "source", "targets"):
            if required not in table:
                raise self.fail(f"{key}.{required}", "missing required key")
        kind = table["kind"]
        if kind not in KINDS:
            raise self.fail(f"{key}.kind", f"unknown kind {kind!r} (known: {_choices(KINDS)})")
        known_systems = _choices(sorted(systems)) or "none configured"
        source = table["source"]
        if source not in systems:
            raise self.fail(f"{key}.source", f"unknown system {source!r} (known: {known_systems})")
        targets = table["targets"]
        if isinstance(targets, str) or not isinstance(targets, list) or not targets:
            raise self.fail(f"{key}.targets", "expected a non-empty list of system names")
        for i, target in enumerate(targets):
            if target not in systems:
                raise self.fail(f"{key}.targets[{i}]", f"unknown system {target!r} (known: {known_systems})")
            if target == source:
                raise self.fail(f"{key}.targets[{i}]", f"{target!r} is the job's source")
            if targets.index(target) != i:
                raise self.fail(f"{key}.targets[{i}]", f"{target!r} is listed twice")
        every = cron = None
        if "every" in table and "cron" in table:
            raise self.fail(key, "give either every or cron, not both")
        if "every" in table:
            try:
                every = parse_duration(table["every"])
            except ValueError as exc:
                raise self.fail(f"{key}.every", str(exc)) from None
        if "cron" in table:
            cron = table["cron"]
            from .scheduler import validate_cron  # the one module that imports apscheduler

            problem = validate_cron(cron)
            if problem:
                raise self.fail(f"{key}.cron", problem)
        spec = KINDS[kind]
        match = table.get("match", list(spec.natural_key))
        if not isinstance(match, list) or not all(isinstance(m, str) for m in match):
            raise self.fail(f"{key}.match", "expected a list of field names")
        for i, field_name in enumerate(match):
            if field_name not in spec.names:
                raise self.fail(f"{key}.match[{i}]", f"{kind} has no field {field_name!r} "
                                f"(known: {_choices(spec.names)})")
        enums = {}
        for option, allowed, default in (("deletes", DELETES, "ignore"), ("direction", DIRECTIONS, "one-way"),
                                         ("conflicts", CONFLICT_POLICIES, "manual")):
            enums[option] = table.get(option, default)
            if enums[option] not in allowed:
                raise self.fail(f"{key}.{option}", f"unknown value {enums[option]!r} (known: {_choices(allowed)})")
        if enums["direction"] == "two-way" and len(targets) != 1:
            raise self.fail(f"{key}.targets", "a two-way job has exactly one target")
        if "conflicts" in table and enums["direction"] != "two-way":
            raise self.fail(f"{key}.conflicts", "conflicts only apply to two-way jobs")
        transforms = self.transforms(f"{key}.transforms", table.get("transforms", {}), spec.names)
        try:
            overlap = parse_duration(table["overlap"]) if "overlap" in table else 300.0
        except ValueError as exc:
            raise self.fail(f"{key}.overlap", str(exc)) from None
        job = JobConfig(name, kind, source, tuple(targets), every, cron, tuple(match), enums["deletes"],
                        enums["direction"], enums["conflicts"], transforms, overlap)
        self.capabilities(key, job, systems)
        return job

    def transforms(self, key: str, value: Any, fields: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        table = self.table(key, value)
        out = {}
        for field_name, names in table.items():
            if field_name not in fields:
                raise self.fail(f"{key}.{field_name}", f"no such field (known: {_choices(fields)})")
            names = [names] if isinstance(names, str) else names
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise self.fail(f"{key}.{field_name}", "expected a transform name or a list of them")
            for i, transform in enumerate(names):
                if transform not in self.plugins.transforms:
                    raise self.fail(f"{key}.{field_name}", f"unknown transform {transform!r} "
                                    f"(known: {_choices(sorted(self.plugins.transforms))})")
            out[field_name] = tuple(names)
        return out

    def capabilities(self, key: str, job: JobConfig, systems: dict[str, SystemConfig]) -> None:
        """Every system of the job must offer what the job asks of it."""
        needs = {job.source: ("list",) + (("create", "update") if job.two_way else ())}
        for target in job.targets:
            needs[target] = ("create", "update") + (("list",) if job.two_way else ())
        if job.deletes == "mirror":
            for target in job.targets:
                needs[target] += ("delete",)
            if job.two_way:
                needs[job.source] += ("delete",)
        for system_name, ops in needs.items():
            system = systems[system_name]
            kinds = self.plugins.connectors[system.plugin].operations(system.options)
            if job.kind not in kinds:
                raise self.fail(f"{key}.kind", f"system {system_name!r} (plugin {system.plugin}) does not "
                                f"handle {job.kind!r} (it handles: {_choices(kinds) or 'nothing'})")
            missing = [op for op in ops if op not in kinds[job.kind]]
            if missing:
                raise self.fail(key, f"system {system_name!r} (plugin {system.plugin}) cannot "
                                f"{' or '.join(missing)} {job.kind} records, which this job needs")


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _article(type_name: str) -> str:
    return {"str": "a string", "url": "a URL string", "int": "a whole number", "float": "a number",
            "bool": "true or false", "list": "a list", "table": "a table"}[type_name]


def load_config(path: Path, plugins: Plugins, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file against the loaded plugins."""
    env = os.environ if env is None else env
    return _Loader(path, plugins, env).load(read_toml(path))


def plugins_dir_of(path: Path) -> Path | None:
    """The ``plugins_dir`` a config file names (read before plugins load, so it can add connectors)."""
    head = read_toml(path).get("hostsync", {})
    value = head.get("plugins_dir") if isinstance(head, dict) else None
    return path.resolve().parent / value if isinstance(value, str) else None


def plugins_for(path: Path | None, plugins_dir: Path | None = None, loaded: Plugins | None = None) -> Plugins:
    """The plugins a config runs with: ``plugins_dir`` (``--plugins-dir``), else the config's own
    ``plugins_dir``, else only the installed ones (``loaded``, when they are loaded already)."""
    if plugins_dir is None and path is not None:
        plugins_dir = plugins_dir_of(path)
    if plugins_dir is None and loaded is not None:
        return loaded
    return load_plugins(plugins_dir)
