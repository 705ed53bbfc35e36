"""hostsync plugin for wbteampro (under construction)."""
