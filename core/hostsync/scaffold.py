"""``hostsync plugin new NAME``: a new plugin package that installs and passes its own tests as generated.

The package holds what a vendor plugin needs (an entry point, the wire client, the mapping, the
connector, a sandbox of the vendor's API, tests that switch the contract suite on, a README and a
CI workflow) for one kind, ``client``, against a small REST API its sandbox emulates: the author
replaces that API with the vendor's, kind by kind, with the contract suite watching.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from . import __version__
from .errors import HostsyncError

#: template -> where it goes in the new package (``{package}``: the import name).
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "ci.yml.tmpl": ".github/workflows/test.yml",
    "__init__.py.tmpl": "src/{package}/__init__.py",
    "client.py.tmpl": "src/{package}/client.py",
    "mapping.py.tmpl": "src/{package}/mapping.py",
    "connector.py.tmpl": "src/{package}/connector.py",
    "sandbox.py.tmpl": "src/{package}/sandbox.py",
    "conftest.py.tmpl": "tests/conftest.py",
    "test_contract.py.tmpl": "tests/test_contract.py",
    "test_connector.py.tmpl": "tests/test_connector.py",
}
NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


class ScaffoldError(HostsyncError):
    """The plugin cannot be generated here (a bad name, a folder in the way)."""


def names(name: str) -> dict[str, str]:
    """The spellings a plugin named ``name`` uses: its connector name, import package, class prefix
    and distribution name."""
    if not NAME.match(name):
        raise ScaffoldError(f"plugin name {name!r}: use lower-case letters, digits and single underscores, "
                            "starting with a letter (e.g. acme or acme_billing)")
    return {"name": name, "package": f"hostsync_{name}", "title": "".join(p.capitalize() for p in name.split("_")),
            "dist": f"hostsync-{name.replace('_', '-')}", "hostsync_version": __version__}


def render(template: str, values: dict[str, str]) -> str:
    text = resources.files("hostsync").joinpath("templates", "plugin", template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def new_plugin(name: str, folder: Path) -> list[Path]:
    """Write the package for plugin ``name`` into ``folder`` (which must not hold files yet)."""
    values = names(name)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ScaffoldError(f"{folder} already exists and is not empty; choose another --dir")
    written = []
    for template, target in FILES.items():
        path = folder / target.format(package=values["package"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(template, values), encoding="utf-8")
        written.append(path)
    return written
