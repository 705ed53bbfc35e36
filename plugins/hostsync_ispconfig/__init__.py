"""hostsync plugin for ispconfig (under construction)."""
