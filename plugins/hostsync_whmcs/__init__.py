"""hostsync plugin for whmcs (under construction)."""
