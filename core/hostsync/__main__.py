"""``python -m hostsync`` runs the command line."""

from .cli import main

main()
