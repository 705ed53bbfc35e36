"""The hooks a hostsync plugin may implement. Plugins import only ``from hostsync import hookimpl``.

Hooks register objects; the objects do the work later. Every hook is called with keyword arguments,
in LIFO registration order, and an implementation may accept fewer arguments than the spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    import click

    from .connector import Connector
    from .events import Event
    from .sandbox import Sandbox

hookspec = pluggy.HookspecMarker("hostsync")
hookimpl = pluggy.HookimplMarker("hostsync")


@hookspec
def hostsync_register_connectors(register: Callable[[type["Connector"]], None]) -> None:
    """Register connector classes, one per vendor API, by calling ``register(ConnectorClass)``.

    :param register: takes a :class:`hostsync.Connector` subclass; its ``name`` is what systems
        refer to with ``plugin = "..."``. Two plugins registering the same name stop start-up.
    """


@hookspec
def hostsync_register_sandboxes(register: Callable[[type["Sandbox"]], None]) -> None:
    """Register vendor API emulators for ``hostsync sandbox``, ``hostsync demo`` and tests.

    :param register: takes a :class:`hostsync.sandbox.Sandbox` subclass; its ``name`` is the vendor
        name given to ``hostsync sandbox VENDOR``.
    """


@hookspec
def hostsync_register_commands(cli: "click.Group") -> None:
    """Add click commands to the ``hostsync`` command line.

    :param cli: the top-level group; call ``cli.add_command(...)`` or decorate with ``@cli.command()``.
    """


@hookspec
def hostsync_register_transforms(register: Callable[[str, Callable[[object], object]], None]) -> None:
    """Register named field transforms that jobs may apply (``[jobs.X.transforms] field = "name"``).

    :param register: ``register(name, function)``; the function takes a canonical value and
        returns the transformed value. It runs before hashing, so it must be deterministic.
    """


@hookspec
def hostsync_event(event: "Event") -> None:
    """Observe run and record events (notifications, metrics, audit trails).

    :param event: a :class:`hostsync.events.Event`. Called one event at a time (a lock), in the
        thread that emits it: the engine thread (the thread running the job) for run and record
        events, a worker for the events of a vendor call (``system.waited``, ``vendor.call``). So an
        observer need not be thread-safe; keep it quick: the run waits for it. An observer that
        raises is logged and does not stop the other observers.
    """
