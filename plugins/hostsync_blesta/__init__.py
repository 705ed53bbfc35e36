"""hostsync plugin for blesta (under construction)."""
