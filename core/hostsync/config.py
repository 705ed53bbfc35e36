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
import math
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from zoneinfo import ZoneInfo

from .connector import Connector, Setting
from .errors import ConfigError
from .model import KINDS
from .plugins import CORE_SYSTEM_KEYS, Plugins, load_plugins
from .redact import redactor

SEARCH_PATHS = (Path("hostsync.toml"), Path("/etc/hostsync/hostsync.toml"))
LOG_LEVELS = ("debug", "info", "warning", "error")
DELETES = ("ignore", "mirror")
DIRECTIONS = ("one-way", "two-way")
CONFLICT_POLICIES = ("manual", "source-wins", "target-wins", "newest-wins")
DRIFT = ("repair", "report")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_VAR = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\})")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_SIZE = re.compile(r"^(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$")
_SIZE_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "KB": 1000, "MB": 1000 ** 2,
               "GB": 1000 ** 3}
DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 60.0
DEFAULT_MAX_REPLY_SIZE = 32 * 1024 ** 2
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
    #: one-way jobs: what a full scan does with a linked target record changed since hostsync wrote it
    drift: str = "repair"
    #: deletes / updates one run may make in one target before it refuses (``None``: 10 or 5 % of
    #: the target's linked records, whichever is larger; see :mod:`hostsync.engine.guard`)
    max_deletes: int | None = None
    max_changes: int | None = None

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
            else:
                entry["drift"] = job.drift
            for key in ("max_deletes", "max_changes"):
                if getattr(job, key) is not None:
                    entry[key] = getattr(job, key)
            if job.transforms:
                entry["transforms"] = {k: list(v) for k, v in job.transforms.items()}
            entry["overlap"] = format_duration(job.overlap)
            jobs[job.name] = entry
        return {"hostsync": head, "systems": {n: s.redacted() for n, s in self.systems.items()}, "jobs": jobs}


# --- the schema ----------------------------------------------------------------------------
# Every key of the file is described by a Setting, as the connectors describe theirs: one loader
# validates them all by type and range. What relates two keys is checked after, in code.

DAY = 86400.0
HOSTSYNC_SETTINGS = (
    Setting("state", "path", default="hostsync.db", help="the SQLite state file"),
    Setting("log_level", choices=LOG_LEVELS, default="info"),
    Setting("plugins_dir", "directory", help="one-off plugins (.py files)"),
    # the daemon's Prometheus metrics (see hostsync.metrics); checked further in _Loader.metrics
    Setting("metrics_textfile", help="a .prom file for node_exporter's textfile collector"),
    Setting("metrics_listen", help="HOST:PORT to serve /metrics on"),
    Setting("metrics_listen_public", "bool", default=False, help="allow a metrics_listen address off loopback"),
)
#: The keys of every [systems.NAME] table (``plugins.CORE_SYSTEM_KEYS``); the connector's follow.
SYSTEM_SETTINGS = (
    Setting("plugin", required=True),
    Setting("concurrency", "int", min=1, max=64),
    Setting("rate_limit", "rate"),
    Setting("shares_ids_with"),
    Setting("timeout", "duration", default=DEFAULT_TIMEOUT, min=0.01, max=3600),
    Setting("deadline", "duration", min=0.01, max=DAY),
    Setting("max_reply_size", "size", default=DEFAULT_MAX_REPLY_SIZE, min=1024, max=16 * 1024 ** 3),
    Setting("settle_delay", "duration", min=0, max=DAY),
    Setting("verify_tls", "bool", default=True),
)
JOB_SETTINGS = (
    Setting("kind", required=True, choices=tuple(KINDS)),
    Setting("source", required=True),
    Setting("targets", "list", required=True, items="str"),
    Setting("every", "duration", min=1, max=366 * DAY),
    Setting("cron", "cron"),
    Setting("match", "list", items="str"),
    Setting("deletes", choices=DELETES, default="ignore"),
    Setting("direction", choices=DIRECTIONS, default="one-way"),
    Setting("conflicts", choices=CONFLICT_POLICIES, default="manual"),
    Setting("transforms", "table", default={}),
    Setting("overlap", "duration", default=300.0, min=0, max=30 * DAY),
    Setting("drift", choices=DRIFT, default="repair", help="one-way jobs: repair or only report drift"),
    Setting("max_deletes", "int", min=0, help="deletes one run may make in one target (default: 10 or 5 %)"),
    Setting("max_changes", "int", min=0, help="updates one run may make in one target (default: 10 or 5 %)"),
)


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
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
                          file=str(path)) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read: {_os_reason(exc)}", file=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", file=str(path)) from None
    except RecursionError:
        raise ConfigError("invalid TOML: nested too deeply", file=str(path)) from None


def parse_duration(text: Any) -> float:
    """``"90s"``, ``"15m"``, ``"1h30m"``, ``"1d"`` -> seconds (at most about a hundred years)."""
    if isinstance(text, str):
        match = _DURATION.match(text.strip())
        if match and any(match.groups()) and all(len(g or "") <= 12 for g in match.groups()):
            d, h, m, s = (int(g or 0) for g in match.groups())
            return float(d * 86400 + h * 3600 + m * 60 + s)
    raise ValueError(f"bad duration {text!r} (use e.g. 30s, 15m, 1h, 1h30m, 1d)")


def format_duration(seconds: float) -> str:
    if 0 < seconds < 1:
        return f"{seconds:g}s"
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
        if match and len(match.group(1)) <= 15 and int(match.group(1)) > 0:
            return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    raise ValueError(f"bad size {value!r} (use bytes, or e.g. 512KiB, 32MiB, 1GiB)")


def format_size(size: int) -> str:
    for unit in ("GiB", "MiB", "KiB"):
        if size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return str(size)


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


def parse_rate(text: Any) -> RateLimit:
    """``"60/min"``, ``"5/s"``, ``"1000/hour"`` -> :class:`RateLimit`."""
    if isinstance(text, str) and "/" in text:
        count, unit = (part.strip() for part in text.split("/", 1))
        if count.isdigit() and len(count) <= 9 and int(count) > 0 and unit in _RATE_UNITS:
            return RateLimit(int(count), _RATE_UNITS[unit], text)
    raise ValueError(f"bad rate limit {text!r} (use e.g. 60/min, 5/s, 1000/hour)")


def _choices(values: Iterator[str] | Any) -> str:
    return ", ".join(str(v) for v in values)


def _os_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _bounds(low: float | None, high: float | None, show: Any) -> str:
    if low is not None and high is not None:
        return f" from {show(low)} to {show(high)}"
    if low is not None:
        return f" of at least {show(low)}"
    return f" of at most {show(high)}" if high is not None else ""


class _Loader:
    """Validates one parsed file; ``fail`` raises with the file name and key path."""

    def __init__(self, path: Path, plugins: Plugins, env: Mapping[str, str]) -> None:
        self.path = path
        self.plugins = plugins
        self.env = env
        self.base = path.resolve().parent
        #: where relative paths of particular keys resolve (default: beside the config file)
        self.bases: dict[str, Path] = {}

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=str(self.path), key=key)

    def table(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {_type_name(value)}")
        return value

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
        self.check_keys("", raw, ("hostsync", "systems", "jobs"))
        # a relative state path lives in systemd's StateDirectory= when there is one, else beside the config
        if self.env.get("STATE_DIRECTORY"):
            self.bases["hostsync.state"] = Path(self.env["STATE_DIRECTORY"].split(":")[0])
        head = self.settings("hostsync", self.table("hostsync", raw.get("hostsync", {})), HOSTSYNC_SETTINGS)

        systems_raw = self.table("systems", raw.get("systems", {}))
        systems = {name: self.system(name, value) for name, value in systems_raw.items()}
        for system in systems.values():
            other = system.shares_ids_with
            if other is not None and other not in systems:
                raise self.fail(f"systems.{system.name}.shares_ids_with",
                                f"unknown system {other!r} (known: {_choices(sorted(systems))})")
        jobs_raw = self.table("jobs", raw.get("jobs", {}))
        jobs = {name: self.job(name, value, systems) for name, value in jobs_raw.items()}
        plugins_dir = head.get("plugins_dir")
        return Config(self.path, Path(head["state"]), head["log_level"], Path(plugins_dir) if plugins_dir else None,
                      systems, jobs, *self.metrics(head))

    def metrics(self, head: Mapping[str, Any]) -> tuple[Path | None, tuple[str, int] | None]:
        """``metrics_textfile`` (a ``.prom`` file: node_exporter reads no other; not required to be
        writable at load, since a daemon that cannot write it logs that and runs its jobs) and
        ``metrics_listen`` (``HOST:PORT``, loopback unless ``metrics_listen_public = true``)."""
        textfile = head.get("metrics_textfile")
        if textfile is not None and (not textfile.endswith(".prom") or Path(textfile).name == ".prom"):
            raise self.fail("hostsync.metrics_textfile", "expected a file path ending in .prom (node_exporter's "
                            "textfile collector reads only *.prom files)")
        listen = head.get("metrics_listen")
        if listen is not None:
            try:
                listen = parse_listen(listen)
            except ValueError as exc:
                raise self.fail("hostsync.metrics_listen", str(exc)) from None
            if not head["metrics_listen_public"] and not ipaddress.ip_address(listen[0]).is_loopback:
                raise self.fail("hostsync.metrics_listen", f"{listen[0]} is reachable from other machines; use "
                                "127.0.0.1 or [::1], or set metrics_listen_public = true to mean it")
        return (self.base / textfile if textfile else None), listen

    def check_keys(self, key: str, table: Mapping[str, Any], known: Iterable[str], owner: str = "") -> None:
        known = list(known)
        for name in table:
            if name not in known:
                raise self.fail(f"{key}.{name}" if key else name,
                                f"unknown key{owner} (known: {_choices(sorted(known))})")

    def system(self, name: str, value: Any) -> SystemConfig:
        key = f"systems.{name}"
        if not NAME.match(name):
            raise self.fail(key, "system names may hold letters, digits, '_', '.' and '-'")
        table = self.table(key, value)
        if "plugin" not in table:
            raise self.fail(f"{key}.plugin", f"missing (known plugins: {_choices(sorted(self.plugins.connectors))})")
        plugin = self.typed(f"{key}.plugin", SYSTEM_SETTINGS[0], table["plugin"])
        if plugin not in self.plugins.connectors:
            raise self.fail(f"{key}.plugin", f"unknown plugin {plugin!r} "
                            f"(known: {_choices(sorted(self.plugins.connectors)) or 'none installed'})")
        connector = self.plugins.connectors[plugin]
        defaults = {"concurrency": connector.default_concurrency, "rate_limit": connector.default_rate_limit}
        core = tuple(replace(spec, default=defaults.get(spec.name, spec.default)) for spec in SYSTEM_SETTINGS)
        values = self.settings(key, table, (*core, *connector.settings), f" for plugin {connector.name!r}")
        if values.get("shares_ids_with") == name:
            raise self.fail(f"{key}.shares_ids_with", "expected the name of another system")
        timeout = values["timeout"]
        deadline = values.get("deadline", max(DEFAULT_DEADLINE, timeout))
        if deadline < timeout:
            raise self.fail(f"{key}.deadline", f"must be at least the timeout ({timeout:g} s)")
        options = {k: v for k, v in values.items() if k not in CORE_SYSTEM_KEYS}
        self.plugin_code(key, connector, "check its settings", connector.validate_settings, options)
        return SystemConfig(name, plugin, options, self.secret_keys(connector.settings), values["concurrency"],
                            values.get("rate_limit"), values.get("shares_ids_with"), timeout, deadline,
                            values["max_reply_size"], values["verify_tls"], values.get("settle_delay"))

    def plugin_code(self, key: str, connector: type[Connector], what: str, call: Any, *args: Any) -> Any:
        """Run a connector's own check; its ConfigError gets the file and key path, a bug says so."""
        try:
            return call(*args)
        except ConfigError as exc:
            raise self.fail(f"{key}.{exc.key}" if exc.key else key, exc.detail) from None
        except Exception as exc:
            raise self.fail(key, f"plugin {connector.name!r} failed to {what}: {type(exc).__name__}: {exc}") from None

    @staticmethod
    def secret_keys(specs: Iterable[Setting], prefix: str = "") -> frozenset[str]:
        """Dotted names of the secret settings (nested tables too), for ``config show``."""
        out: set[str] = set()
        for spec in specs:
            if spec.secret:
                out.add(prefix + spec.name)
            out |= _Loader.secret_keys(spec.fields, f"{prefix}{spec.name}.")
        return frozenset(out)

    def settings(self, key: str, table: dict[str, Any], specs: Iterable[Setting], owner: str = "") -> dict[str, Any]:
        """``table`` validated against ``specs``: every value typed and in range, defaults filled in
        (settings without a value or a default are left out), secrets resolved and registered."""
        specs = tuple(specs)
        self.check_keys(key, table, [*(s.name for s in specs), *(f"{s.name}_file" for s in specs if s.secret)],
                        owner)
        values: dict[str, Any] = {}
        for spec in specs:
            path = f"{key}.{spec.name}"
            file_key = f"{spec.name}_file"
            if spec.secret and file_key in table:
                if spec.name in table:
                    raise self.fail(path, f"give either {spec.name} or {file_key}, not both")
                value: Any = self.secret_file(f"{key}.{file_key}", table[file_key])
            elif spec.name in table:
                value = table[spec.name]
                if spec.secret:  # registered before it is checked: no message may show it
                    redactor.add(self.interpolate(path, value))
            elif spec.required:
                hint = f" (or {file_key})" if spec.secret else ""
                raise self.fail(path, f"missing required key{hint}")
            elif spec.default is None:
                continue
            else:
                value = spec.default
            values[spec.name] = self.typed(path, spec, value)
        return values

    def typed(self, path: str, spec: Setting, value: Any) -> Any:
        """One value checked against its setting's type, range and choices; returned in its typed form."""
        kind = spec.type
        value = self.interpolate(path, value)
        shown = _type_name(value) if spec.secret else repr(value)
        if kind in ("str", "url", "timezone", "cron", "path", "file", "directory") and not isinstance(value, str):
            raise self.fail(path, f"expected {_ARTICLE[kind]}, got {_type_name(value)}")
        if kind in ("path", "file", "directory"):
            return self.path_value(path, value, kind)
        if kind == "url" and not _URL.match(value):
            raise self.fail(path, f"expected an http:// or https:// URL, got {shown}")
        if kind == "timezone":
            problem = _zone_problem(value)
            if problem:
                raise self.fail(path, problem)
        if kind == "cron":
            from .scheduler import validate_cron  # the one module that imports apscheduler

            problem = validate_cron(value)
            if problem:
                raise self.fail(path, problem)
        if kind in ("int", "float"):
            number = (int,) if kind == "int" else (int, float)
            if not isinstance(value, number) or isinstance(value, bool) or not math.isfinite(value):
                raise self.fail(path, f"expected {_ARTICLE[kind]}{_bounds(spec.min, spec.max, _number)}, "
                                f"got {shown if isinstance(value, (int, float)) else _type_name(value)}")
            self.in_range(path, spec, value, kind, _number, shown)
        if kind == "bool" and not isinstance(value, bool):
            raise self.fail(path, f"expected true or false, got {_type_name(value)}")
        if kind in ("duration", "size", "rate"):
            value = self.measure(path, spec, value, kind, shown)
        if kind == "list":
            if not isinstance(value, list):
                raise self.fail(path, f"expected a list, got {_type_name(value)}")
            item_spec = replace(spec, type=spec.items or "str", items=None)
            return [self.typed(f"{path}[{i}]", item_spec, item) if spec.items else self.interpolate(f"{path}[{i}]", item)
                    for i, item in enumerate(value)]
        if kind == "table":
            table = self.table(path, value)
            if spec.fields:
                return self.settings(path, table, spec.fields)
            return {k: self.interpolate(f"{path}.{k}", v) for k, v in table.items()}
        if spec.choices and value not in spec.choices:
            raise self.fail(path, f"unknown value {shown} (known: {_choices(spec.choices)})")
        return value

    def measure(self, path: str, spec: Setting, value: Any, kind: str, shown: str) -> Any:
        """A duration (seconds), size (bytes) or rate, from a number or its text form, in range."""
        if kind == "rate":
            try:
                return parse_rate(value)
            except ValueError as exc:
                raise self.fail(path, str(exc)) from None
        if isinstance(value, str):
            try:
                number: Any = parse_duration(value) if kind == "duration" else parse_size(value)
            except ValueError as exc:
                raise self.fail(path, str(exc)) from None
        elif isinstance(value, (int, float)) and not isinstance(value, bool) \
                and (kind == "duration" or isinstance(value, int)):
            number = float(value) if kind == "duration" else value
            if math.isnan(number):
                number = math.inf  # out of every range
        else:
            example = "a duration such as 30s, 15m or 1h30m" if kind == "duration" else "a size such as 32MiB"
            raise self.fail(path, f"expected {example}, got {_type_name(value)}")
        show = format_duration if kind == "duration" else format_size
        self.in_range(path, spec, number, kind, show, shown)
        return number

    def in_range(self, path: str, spec: Setting, value: float, kind: str, show: Any, shown: str) -> None:
        if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
            raise self.fail(path, f"expected {_ARTICLE[kind]}{_bounds(spec.min, spec.max, show)}, got {shown}")

    def path_value(self, key: str, value: str, kind: str) -> str:
        try:
            return str(checked_path(value, kind, self.bases.get(key, self.base)))
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def secret_file(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value or "\0" in value:
            raise self.fail(key, "expected a file path")
        path = Path(self.interpolate(key, value))
        if not path.is_absolute():
            credentials = self.env.get("CREDENTIALS_DIRECTORY")
            path = Path(credentials) / path if credentials else self.base / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise self.fail(key, f"cannot read {path}: {_os_reason(exc)}") from None
        try:
            text = data.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise self.fail(key, f"{path} is not UTF-8 text") from None
        if not text:
            raise self.fail(key, f"{path} is empty")
        redactor.add(text)
        return text

    def job(self, name: str, value: Any, systems: dict[str, SystemConfig]) -> JobConfig:
        key = f"jobs.{name}"
        if not NAME.match(name):
            raise self.fail(key, "job names may hold letters, digits, '_', '.' and '-'")
        values = self.settings(key, self.table(key, value), JOB_SETTINGS)
        kind, source, targets = values["kind"], values["source"], values["targets"]
        known_systems = _choices(sorted(systems)) or "none configured"
        if source not in systems:
            raise self.fail(f"{key}.source", f"unknown system {source!r} (known: {known_systems})")
        if not targets:
            raise self.fail(f"{key}.targets", "expected a non-empty list of system names")
        for i, target in enumerate(targets):
            if target not in systems:
                raise self.fail(f"{key}.targets[{i}]", f"unknown system {target!r} (known: {known_systems})")
            if target == source:
                raise self.fail(f"{key}.targets[{i}]", f"{target!r} is the job's source")
            if targets.index(target) != i:
                raise self.fail(f"{key}.targets[{i}]", f"{target!r} is listed twice")
        if "every" in values and "cron" in values:
            raise self.fail(key, "give either every or cron, not both")
        spec = KINDS[kind]
        match = values.get("match", list(spec.natural_key))
        for i, field_name in enumerate(match):
            if field_name not in spec.names:
                raise self.fail(f"{key}.match[{i}]", f"{kind} has no field {field_name!r} "
                                f"(known: {_choices(spec.names)})")
        if values["direction"] == "two-way" and len(targets) != 1:
            raise self.fail(f"{key}.targets", "a two-way job has exactly one target")
        if "conflicts" in value and values["direction"] != "two-way":
            raise self.fail(f"{key}.conflicts", "conflicts only apply to two-way jobs")
        if "drift" in value and values["direction"] == "two-way":
            raise self.fail(f"{key}.drift", "drift applies to one-way jobs (a two-way job reads both sides: a change "
                            "in either is synced, or a conflict)")
        transforms = self.transforms(f"{key}.transforms", values["transforms"], spec.names)
        job = JobConfig(name, kind, source, tuple(targets), values.get("every"), values.get("cron"), tuple(match),
                        values["deletes"], values["direction"], values["conflicts"], transforms, values["overlap"],
                        values["drift"], values.get("max_deletes"), values.get("max_changes"))
        self.capabilities(key, job, systems)
        return job

    def transforms(self, key: str, table: dict[str, Any], fields: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        out = {}
        for field_name, names in table.items():
            if field_name not in fields:
                raise self.fail(f"{key}.{field_name}", f"no such field (known: {_choices(fields)})")
            names = [names] if isinstance(names, str) else names
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise self.fail(f"{key}.{field_name}", "expected a transform name or a list of them")
            for transform in names:
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
            connector = self.plugins.connectors[system.plugin]
            kinds = self.plugin_code(f"systems.{system_name}", connector, "say what it can do",
                                     connector.operations, system.options)
            if job.kind not in kinds:
                raise self.fail(f"{key}.kind", f"system {system_name!r} (plugin {system.plugin}) does not "
                                f"handle {job.kind!r} (it handles: {_choices(kinds) or 'nothing'})")
            missing = [op for op in ops if op not in kinds[job.kind]]
            if missing:
                raise self.fail(key, f"system {system_name!r} (plugin {system.plugin}) cannot "
                                f"{' or '.join(missing)} {job.kind} records, which this job needs")


_URL = re.compile(r"^https?://[^/\s]+")
_ARTICLE = {"str": "a string", "url": "a URL string", "int": "a whole number", "float": "a number",
            "bool": "true or false", "list": "a list", "table": "a table", "duration": "a duration",
            "size": "a size", "rate": "a rate limit", "timezone": "a time zone name", "cron": "a crontab expression",
            "path": "a file path", "file": "a file path", "directory": "a directory path"}


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _type_name(value: Any) -> str:
    if isinstance(value, (datetime, date, time)):
        return "a date or time"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _zone_problem(name: str) -> str | None:
    """Why ``name`` is not a usable IANA time zone, or None."""
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin or UTC)"
    return None


def checked_path(value: str, kind: str, base: Path) -> Path:
    """``value`` as an absolute path (relative to ``base``) that is what ``kind`` needs: an existing
    readable ``file``, an existing ``directory``, or a ``path`` hostsync can create or write.
    Raises ValueError saying what is wrong; nothing is created or changed."""
    if not value or "\0" in value:
        raise ValueError(f"expected {_ARTICLE[kind]}, got {value!r}")
    path = base / Path(value).expanduser()
    try:
        if kind == "directory":
            if not path.is_dir():
                raise ValueError(f"{path} is not a directory" if path.exists() else f"directory {path} does not exist")
        elif kind == "file":
            if path.is_dir():
                raise ValueError(f"{path} is a directory, not a file")
            with path.open("rb"):
                pass
        else:
            problem = _unwritable(path)
            if problem:
                raise ValueError(problem)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {_os_reason(exc)}") from None
    return path


def _unwritable(path: Path) -> str | None:
    """Why hostsync could not create or write the file ``path``, or None (nothing is written)."""
    if path.is_dir():
        return f"{path} is a directory; give a file path such as {path / 'hostsync.db'}"
    if path.exists():
        if not path.is_file():
            return f"{path} is not a regular file"
        try:
            os.close(os.open(path, os.O_WRONLY))
        except OSError as exc:
            return f"cannot write {path}: {_os_reason(exc)}"
        return None
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot create {path}: {ancestor} is not a directory"
    try:  # an unnamed temporary file: proves the directory takes new files, leaves nothing behind
        tempfile.TemporaryFile(dir=ancestor).close()
    except OSError as exc:
        return f"cannot create {path}: {_os_reason(exc)} in {ancestor}"
    return None


def load_config(path: Path, plugins: Plugins, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file against the loaded plugins; register its secrets for redaction."""
    env = os.environ if env is None else env
    return _Loader(path, plugins, env).load(read_toml(path))


def plugins_dir_of(path: Path) -> Path | None:
    """The ``plugins_dir`` a config file names (read before plugins load, so it can add connectors)."""
    head = read_toml(path).get("hostsync", {})
    value = head.get("plugins_dir") if isinstance(head, dict) else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"expected a directory path, got {_type_name(value)}", file=str(path), key="hostsync.plugins_dir")
    try:
        return checked_path(value, "directory", path.resolve().parent)
    except ValueError as exc:
        raise ConfigError(str(exc), file=str(path), key="hostsync.plugins_dir") from None


def plugins_for(path: Path | None, plugins_dir: Path | None = None, loaded: Plugins | None = None) -> Plugins:
    """The plugins a config runs with: ``plugins_dir`` (``--plugins-dir``), else the config's own
    ``plugins_dir``, else only the installed ones (``loaded``, when they are loaded already)."""
    if plugins_dir is None and path is not None:
        plugins_dir = plugins_dir_of(path)
    if plugins_dir is None and loaded is not None:
        return loaded
    return load_plugins(plugins_dir)
