"""The shipped in-memory vendor, loaded from a plugins directory as an operator's one-off plugin is."""

from hostsync.memory_vendor import *  # noqa: F401,F403
from hostsync.memory_vendor import VENDORS, MemoryVendor, hostsync_register_connectors, reset, vendor  # noqa: F401
