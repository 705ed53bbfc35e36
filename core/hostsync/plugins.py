"""Loading plugins and collecting what they register, behind a small typed facade.

Plugins come from the ``hostsync`` entry-point group (the built-in vendor plugins too), from ``.py``
files in a plugins directory, and from the core's own default plugins. ``HOSTSYNC_LOAD_PLUGINS``
(comma-separated entry-point names) restricts which installed plugins load; ``HOSTSYNC_TRACE_PLUGINS=1``
prints every hook call to stderr. Every failure names the plugin: a plugin that does not import, a
misspelt hook, a connector that declares something invalid.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import pluggy

from . import __version__, hookspecs
from .connector import OPERATIONS, SETTING_TYPES, Connector, Cost, Operations, Setting
from .errors import PluginError
from .events import Event
from .model import KINDS
from .redact import redactor

if TYPE_CHECKING:
    from .sandbox import Sandbox

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hostsync"
#: The built-in plugins: name -> module.
DEFAULT_PLUGINS = {"transforms": "hostsync.transforms", "metrics": "hostsync.metrics_events"}
#: Keys of ``[systems.X]`` the core owns; a connector may not declare settings with these names.
#: The Connector method each declared operation needs (``since`` is a kind of ``list``).
METHOD_OF = {"list": "list", "since": "list", "get": "get", "find": "find", "create": "create",
             "update": "update", "delete": "delete"}
CORE_SYSTEM_KEYS = ("plugin", "concurrency", "rate_limit", "shares_ids_with", "timeout", "deadline",
                    "max_reply_size", "settle_delay", "verify_tls")


@dataclass
class PluginInfo:
    """What ``hostsync plugins`` shows about one plugin."""

    name: str
    module: str
    version: str | None
    source: str
    hooks: list[str] = field(default_factory=list)
    connectors: list[type[Connector]] = field(default_factory=list)
    sandboxes: list[type[Sandbox]] = field(default_factory=list)
    transforms: list[str] = field(default_factory=list)


class Plugins:
    """The loaded plugins and everything they registered. Built by :func:`load_plugins`."""

    def __init__(self, pm: pluggy.PluginManager, infos: dict[str, PluginInfo], trace: bool = False) -> None:
        self.pm = pm
        self._infos = infos
        self.trace = trace
        self._connectors: dict[str, type[Connector]] = {}
        self._sandboxes: dict[str, type[Sandbox]] = {}
        self._transforms: dict[str, Callable[[Any], Any]] = {}
        self._collected = False
        #: observers get one event at a time, whichever thread emits it (re-entrant: an observer
        #: whose own work emits an event does not deadlock)
        self._delivering = threading.RLock()

    # -- collection ---------------------------------------------------------------------------
    # Connectors, sandboxes and transforms are collected when first asked for: a plugin imports
    # its connector (and its HTTP or SOAP stack) inside the hook, which `hostsync --help` never needs.
    # An invalid registration still stops the command that asks, before it does anything.

    @property
    def connectors(self) -> dict[str, type[Connector]]:
        self._collect()
        return self._connectors

    @property
    def sandboxes(self) -> dict[str, type[Sandbox]]:
        self._collect()
        return self._sandboxes

    @property
    def transforms(self) -> dict[str, Callable[[Any], Any]]:
        self._collect()
        return self._transforms

    @property
    def infos(self) -> dict[str, PluginInfo]:
        self._collect()
        return self._infos

    def _each_impl(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of a registering hook on its own, so failures name the plugin."""
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            name = impl.plugin_name
            self._trace(hook, name)
            try:
                impl.function(**{arg: kwargs[arg](name) for arg in impl.argnames})
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {name!r} failed in {hook}: {type(exc).__name__}: {exc}") from exc

    def _collect(self) -> None:
        if self._collected:
            return
        self._collected = True
        try:
            self._collect_all()
        except BaseException:
            self._collected = False
            self._connectors.clear()
            self._sandboxes.clear()
            self._transforms.clear()
            for info in self._infos.values():
                info.connectors.clear()
                info.sandboxes.clear()
                info.transforms.clear()
            raise

    def _collect_all(self) -> None:
        from .sandbox import Sandbox

        def connector_register(plugin: str) -> Callable[[type[Connector]], None]:
            def register(cls: type[Connector]) -> None:
                _validate_connector(plugin, cls)
                if cls.name in self._connectors and self._connectors[cls.name] is not cls:
                    other = self._owner("connectors", cls.name)
                    raise PluginError(f"plugin {plugin!r} registers connector {cls.name!r}, "
                                      f"already registered by plugin {other!r}")
                self._connectors[cls.name] = cls
                self._infos[plugin].connectors.append(cls)
            return register

        def sandbox_register(plugin: str) -> Callable[[type[Sandbox]], None]:
            def register(cls: type[Sandbox]) -> None:
                if not (isinstance(cls, type) and issubclass(cls, Sandbox) and getattr(cls, "name", None)):
                    raise PluginError(f"plugin {plugin!r} registered {cls!r} as a sandbox; expected a "
                                      "hostsync.sandbox.Sandbox subclass with a name")
                if cls.name in self._sandboxes and self._sandboxes[cls.name] is not cls:
                    raise PluginError(f"plugin {plugin!r} registers sandbox {cls.name!r}, already "
                                      f"registered by plugin {self._owner('sandboxes', cls.name)!r}")
                self._sandboxes[cls.name] = cls
                self._infos[plugin].sandboxes.append(cls)
            return register

        def transform_register(plugin: str) -> Callable[[str, Callable[[Any], Any]], None]:
            def register(name: str, function: Callable[[Any], Any]) -> None:
                if not callable(function) or not isinstance(name, str) or not name:
                    raise PluginError(f"plugin {plugin!r} registered an invalid transform {name!r}")
                if name in self._transforms and self._transforms[name] is not function:
                    raise PluginError(f"plugin {plugin!r} registers transform {name!r}, already "
                                      f"registered by plugin {self._owner('transforms', name)!r}")
                self._transforms[name] = function
                self._infos[plugin].transforms.append(name)
            return register

        self._each_impl("hostsync_register_connectors", register=connector_register)
        self._each_impl("hostsync_register_sandboxes", register=sandbox_register)
        self._each_impl("hostsync_register_transforms", register=transform_register)

    def _owner(self, what: str, name: str) -> str:
        for info in self._infos.values():
            items = getattr(info, what)
            if any(getattr(item, "name", item) == name for item in items):
                return info.name
        return "?"

    # -- use ----------------------------------------------------------------------------------

    def register_commands(self, cli: Any) -> None:
        """Let plugins add click commands (``hostsync_register_commands``)."""
        self._each_impl("hostsync_register_commands", cli=lambda _plugin: cli)

    def emit(self, event: Event) -> None:
        """Deliver an event to every observer, secrets redacted; one observer's failure is logged, the
        others still run.

        Safe from any thread: the engine thread emits run and record events, workers emit the
        events of vendor calls (``vendor.call``, ``system.waited``). Observers run in the emitting
        thread, one event at a time (a lock), so an observer need not be thread-safe itself; it
        must be quick, since a worker waits for it.
        """
        if redactor:
            detail = redactor.value(event.detail)
            if detail is not event.detail:  # a secret was found: observers get the redacted copy
                event = dataclasses.replace(event, detail=detail)
        with self._delivering:
            for impl in self.pm.hook.hostsync_event.get_hookimpls():
                self._trace("hostsync_event", impl.plugin_name, event.type)
                try:
                    impl.function(**({"event": event} if impl.argnames else {}))
                except Exception as exc:  # an observer must never break a run
                    log.warning("event observer in plugin %r failed on %s: %s: %s",
                                impl.plugin_name, event.type, type(exc).__name__, exc)

    def sandbox_for(self, name: str) -> type[Sandbox] | None:
        """The sandbox named ``name``, else the one that serves the connector ``name`` (the WHMCS
        sandbox serves wbTeamPro too)."""
        if name in self.sandboxes:
            return self.sandboxes[name]
        return next((box for box in self.sandboxes.values() if name in box.plugins), None)

    def _trace(self, hook: str, plugin: str, detail: str = "") -> None:
        if self.trace:
            sys.stderr.write(f"hostsync trace: {hook} -> {plugin}{' ' + detail if detail else ''}\n")

    @property
    def has_observers(self) -> bool:
        return bool(self.pm.hook.hostsync_event.get_hookimpls())


def _validate_connector(plugin: str, cls: Any) -> None:
    """Stop start-up with a message naming the plugin when a connector declares something invalid."""
    where = f"plugin {plugin!r}"
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise PluginError(f"{where} registered {cls!r} as a connector; expected a hostsync.Connector subclass")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"{where}: connector {cls.__qualname__} has no name")
    where = f"{where}, connector {name!r}"
    for kind, ops in cls.kinds.items():
        if kind not in KINDS:
            raise PluginError(f"{where}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        if not isinstance(ops, Operations):
            raise PluginError(f"{where}: kinds[{kind!r}] must be Operations.of(...)")
        unknown = ops.ops - set(OPERATIONS)
        if unknown:
            raise PluginError(f"{where}: kinds[{kind!r}] has unknown operation(s) {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(OPERATIONS)})")
        valid = _field_names(kind)
        bad = ((ops.fields or frozenset()) | ops.read_only) - valid
        if bad:
            raise PluginError(f"{where}: kinds[{kind!r}] names unknown field(s) {', '.join(sorted(bad))}")
        _validate_cost(f"{where}: kinds[{kind!r}] cost", ops.cost)
        children = {name for name, spec in KINDS.items() if kind in spec.refs.values()}
        if ops.strands - children:
            raise PluginError(f"{where}: kinds[{kind!r}] strands {', '.join(sorted(ops.strands - children))}, "
                              f"which do not refer to a {kind} (kinds that do: {', '.join(sorted(children)) or 'none'})")
    seen: set[str] = set()
    for setting in cls.settings:
        _validate_setting(where, setting)
        if setting.name in CORE_SYSTEM_KEYS:
            raise PluginError(f"{where}: setting {setting.name!r} is a core key of [systems.*]")
        if setting.name in seen:
            raise PluginError(f"{where}: setting {setting.name!r} declared twice")
        seen.add(setting.name)
    _validate_implemented(where, cls)


def _validate_cost(where: str, cost: Any) -> None:
    """A cost the engine can price with: counts of requests, ``None`` only where unknown is allowed."""
    if not isinstance(cost, Cost):
        raise PluginError(f"{where} must be a hostsync.Cost")
    for name, least, unknown in (("page", 1, True), ("details", 0, False), ("find", 1, True), ("find_origin", 1, True)):
        value = getattr(cost, name)
        if value is None and unknown:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise PluginError(f"{where}: {name} must be a whole number of at least {least}"
                              + (", or None (not known)" if unknown else ""))


def _validate_implemented(where: str, cls: type[Connector]) -> None:
    """Every declared operation has its method: a connector that declares more than it does stops
    start-up rather than failing the first run that calls it."""
    if not _overrides(cls, "check"):
        raise PluginError(f"{where}: does not implement check() (log in and prove the credentials)")
    for kind, ops in cls.kinds.items():
        missing = sorted({METHOD_OF[op] for op in ops.ops if not _overrides(cls, METHOD_OF[op])})
        if missing:
            raise PluginError(f"{where}: kinds[{kind!r}] declares {', '.join(op for op in OPERATIONS if op in ops)} "
                              f"but the connector does not implement {', '.join(f'{m}()' for m in missing)}")
        if ops.origin and "find" not in ops:
            raise PluginError(f"{where}: kinds[{kind!r}] keeps an origin marker but cannot find by it "
                              "(declare 'find')")


def _overrides(cls: type[Connector], method: str) -> bool:
    return getattr(cls, method) is not getattr(Connector, method)


def _validate_setting(where: str, setting: Any) -> None:
    if not isinstance(setting, Setting):
        raise PluginError(f"{where}: settings must be hostsync.Setting objects, got {setting!r}")
    for type_name in (setting.type, setting.items or "str"):
        if type_name not in SETTING_TYPES:
            raise PluginError(f"{where}: setting {setting.name!r} has unknown type {type_name!r} "
                              f"(known: {', '.join(SETTING_TYPES)})")
    if setting.min is not None and setting.max is not None and setting.min > setting.max:
        raise PluginError(f"{where}: setting {setting.name!r} has min {setting.min} above max {setting.max}")
    for sub in setting.fields:
        _validate_setting(f"{where}, setting {setting.name!r}", sub)


def _field_names(kind: str) -> set[str]:
    names: set[str] = set()
    for spec in KINDS[kind].fields:
        names.add(spec.name)
        names.update(f"{spec.name}.{item.name}" for item in spec.items)
    return names


# --- loading -------------------------------------------------------------------------------

def _allow_list(env: Mapping[str, str]) -> set[str] | None:
    raw = env.get("HOSTSYNC_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _import_entry_point(ep: importlib.metadata.EntryPoint) -> ModuleType:
    try:
        return ep.load()
    except Exception as exc:
        raise PluginError(f"plugin {ep.name!r} (entry point {ep.value!r}) failed to import: "
                          f"{type(exc).__name__}: {exc}") from exc


def _import_file(path: Path) -> ModuleType:
    """Import a plugin file once per process (a reload keeps the module and its state)."""
    module_name = f"hostsync_local_plugins.{path.stem}"
    loaded = sys.modules.get(module_name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {path} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise PluginError(f"plugin file {path} failed to import: {type(exc).__name__}: {exc}") from exc
    sys.modules[module_name] = module
    return module


def _register(pm: pluggy.PluginManager, infos: dict[str, PluginInfo], module: Any, info: PluginInfo) -> None:
    if info.name in infos:
        raise PluginError(f"two plugins are named {info.name!r} ({infos[info.name].module} and {info.module})")
    try:
        pm.register(module, name=info.name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {info.name!r}: {exc}") from exc
    info.hooks = sorted(caller.name for caller in pm.get_hookcallers(module) or [])
    infos[info.name] = info


def _check_pending(pm: pluggy.PluginManager) -> None:
    """A hookimpl whose name matches no spec (a typo) stops start-up, naming plugin and hook."""
    known = sorted(name for name in dir(hookspecs) if name.startswith("hostsync_"))
    for name, caller in sorted(vars(pm.hook).items()):
        if isinstance(caller, pluggy.HookCaller) and not caller.has_spec():
            for impl in caller.get_hookimpls():
                if not impl.optionalhook:
                    raise PluginError(f"plugin {impl.plugin_name!r} implements unknown hook {name!r} "
                                      f"(known hooks: {', '.join(known)})")
    pm.check_pending()


def load_plugins(plugins_dir: str | Path | None = None, env: Mapping[str, str] | None = None,
                 extra: Iterable[tuple[str, Any]] = ()) -> Plugins:
    """A fresh plugin manager with every allowed plugin loaded, checked and collected.

    :param plugins_dir: a directory of ``.py`` plugin files (always loaded, like ``--plugins-dir``).
    :param env: where to read ``HOSTSYNC_LOAD_PLUGINS``/``HOSTSYNC_TRACE_PLUGINS`` (default ``os.environ``).
    :param extra: ``(name, module_or_object)`` plugins registered as given (tests, embedding).
    """
    env = os.environ if env is None else env
    pm = pluggy.PluginManager("hostsync")
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}
    for name, module_name in DEFAULT_PLUGINS.items():
        _register(pm, infos, importlib.import_module(module_name), PluginInfo(name, module_name, __version__, "core"))

    allowed = _allow_list(env)
    entry_points = _entry_points()
    if allowed is not None:
        missing = allowed - {ep.name for ep in entry_points}
        if missing:
            raise PluginError(f"HOSTSYNC_LOAD_PLUGINS names {', '.join(sorted(missing))}, which "
                              f"{'is' if len(missing) == 1 else 'are'} not installed (installed: "
                              f"{', '.join(ep.name for ep in entry_points) or 'none'})")
    for ep in entry_points:
        if allowed is not None and ep.name not in allowed:
            continue
        module = _import_entry_point(ep)
        version = ep.dist.version if ep.dist else None
        _register(pm, infos, module, PluginInfo(ep.name, ep.value, version, "entry point"))

    if plugins_dir is not None:
        directory = Path(plugins_dir)
        if not directory.is_dir():
            raise PluginError(f"plugins directory {directory} does not exist")
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            module = _import_file(path)
            _register(pm, infos, module, PluginInfo(path.stem, str(path), None, "plugins directory"))

    for name, obj in extra:
        _register(pm, infos, obj, PluginInfo(name, getattr(obj, "__name__", type(obj).__name__), None, "embedded"))

    _check_pending(pm)
    return Plugins(pm, infos, trace=bool(env.get("HOSTSYNC_TRACE_PLUGINS")))
