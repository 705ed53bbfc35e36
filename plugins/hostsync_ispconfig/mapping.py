"""ISPConfig rows <-> canonical records, both ways. Pure functions.

Rows come back as MySQL has them (strings, ``''`` for empty, NULL as ``None``) and carry secrets
(password hashes, SSH keys, TLS keys); only the columns named here are ever read, so no secret can
reach a :class:`~hostsync.model.Record`.

client: ``contact_firstname``/``contact_name`` are first/last name; there is one street line, so
``address2`` is not carried; status is ``canceled`` (closed), else ``locked`` (inactive), else active.
An inactive client is written as closed (``locked`` and ``canceled``): ``canceled`` is ISPConfig's
only way to stop a client's panel login, and no client hostsync mirrors as not active may log in.
domain: the domain-limit table (``domains_domain_*``) holds only the name and its owner.
site: a ``vhost`` web domain; ``active`` y/n, ``php`` (``no`` = no PHP), ``ssl`` y/n, ``hd_quota`` in MiB.
Owners are references: the connector resolves a row's ``sys_userid`` to the client id.

Writes get only the fields a job writes: an absent field is left alone, a present ``None`` is an
empty value. Where ISPConfig has no empty value (a client's or site's status, a site's TLS flag or
quota) it gets what an add would give, so :func:`stored` can say what reading it back shows.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Mapping

from hostsync.model import Record

CLIENT_COLUMNS: dict[str, str] = {
    "email": "email", "first_name": "contact_firstname", "last_name": "contact_name",
    "company": "company_name", "phone": "telephone", "address1": "street", "city": "city",
    "state": "state", "postcode": "zip", "country": "country",
}
CLIENT_FIELDS = frozenset(CLIENT_COLUMNS) | {"status"}
DOMAIN_FIELDS = frozenset({"name", "client"})
SITE_FIELDS = frozenset({"domain", "client", "status", "php", "ssl", "quota_mb"})
#: Filter keys ``find`` accepts beyond the canonical fields (ISPConfig's own identifiers).
CLIENT_LOOKUPS = ("customer_no", "username")

_STATUS_COLUMNS = {
    "active": {"locked": "n", "canceled": "n"},
    "inactive": {"locked": "y", "canceled": "y"},  # the login must stop too: read back as closed
    "closed": {"locked": "y", "canceled": "y"},
}

#: What ``client_add`` needs besides the mapped fields (ISPConfig applies no defaults), in the order
#: PHP's SoapClient sent them in the recorded add (vendor-docs/ispconfig-wire). Overridable with
#: ``[systems.X.client_defaults]``.
CLIENT_DEFAULTS: dict[str, Any] = {
    "customer_no": "", "mobile": "", "fax": "", "internet": "", "icq": "", "notes": "",
    "default_mailserver": 1, "default_webserver": 1, "default_dnsserver": 1, "default_dbserver": 1,
    "limit_maildomain": -1, "limit_mailbox": -1, "limit_web_domain": -1, "limit_dns_zone": -1,
    "limit_client": 0, "parent_client_id": 0, "language": "en", "usertheme": "default",
    "template_master": 0, "template_additional": "", "created_at": 0,
    "web_php_options": "no,fast-cgi,cgi,mod,suphp,php-fpm", "ssh_chroot": "no,jailkit", "limit_cron_type": "url",
}
#: Column order of the recorded add (PHP's SoapClient), with the columns it lacked placed where they fit.
_CLIENT_ORDER = ("company_name", "contact_firstname", "contact_name", "customer_no", "email", "street", "zip",
                 "city", "state", "country", "telephone", "mobile", "fax", "internet", "icq", "notes",
                 "default_mailserver", "default_webserver", "default_dnsserver", "default_dbserver",
                 "limit_maildomain", "limit_mailbox", "limit_web_domain", "limit_dns_zone", "limit_client",
                 "parent_client_id", "username", "password", "language", "usertheme", "template_master",
                 "template_additional", "created_at", "web_php_options", "ssh_chroot", "limit_cron_type",
                 "locked", "canceled")

#: A complete web-domain add as recorded (json-httpx.wire.txt). Overridable with ``[systems.X.site_defaults]``.
SITE_DEFAULTS: dict[str, Any] = {
    "server_id": 1, "ip_address": "*", "type": "vhost", "parent_domain_id": 0, "vhost_type": "name",
    "hd_quota": 100, "traffic_quota": -1, "cgi": "n", "ssi": "n", "suexec": "y", "errordocs": 1,
    "is_subdomainwww": 1, "subdomain": "www", "php": "php-fpm", "ruby": "n", "redirect_type": "",
    "redirect_path": "", "ssl": "n", "ssl_letsencrypt": "n", "stats_type": "awstats", "allow_override": "All",
    "pm": "ondemand", "pm_max_requests": 0, "pm_process_idle_timeout": 10, "backup_interval": "",
    "backup_copies": 1, "active": "y", "traffic_quota_lock": "n", "http_port": "80", "https_port": "443",
}


def _value(row: Mapping[str, Any], column: str) -> Any:
    value = row.get(column)
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _yes(value: Any) -> bool | None:
    return None if value is None else str(value).strip().lower() == "y"


# --- clients ---------------------------------------------------------------------------------

def client_status(row: Mapping[str, Any]) -> str:
    if _yes(row.get("canceled")):
        return "closed"
    return "inactive" if _yes(row.get("locked")) else "active"


def client_record(row: Mapping[str, Any]) -> Record:
    fields = {name: _value(row, column) for name, column in CLIENT_COLUMNS.items()}
    fields["status"] = client_status(row)
    return Record("client", str(row["client_id"]), fields)


def client_changes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The client columns for the canonical fields present in ``fields`` (an update merges them);
    a client without status is active, as an add makes it."""
    out = {column: "" if fields[name] is None else str(fields[name])
           for name, column in CLIENT_COLUMNS.items() if name in fields}
    if "status" in fields:
        out.update(_STATUS_COLUMNS[fields["status"] or "active"])
    return out


def client_add_params(fields: Mapping[str, Any], defaults: Mapping[str, Any], *, username: str,
                      password: str) -> dict[str, Any]:
    """Everything ``client_add`` needs: every mapped column, the defaults, login name and password."""
    mapped = client_changes({**{name: fields.get(name) for name in CLIENT_COLUMNS},
                             "status": fields.get("status") or "active"})
    values = {**CLIENT_DEFAULTS, **defaults, **mapped, "username": username, "password": password}
    ordered = {column: values[column] for column in _CLIENT_ORDER if column in values}
    ordered.update((column, value) for column, value in values.items() if column not in ordered)
    return ordered


def client_filter(key: Mapping[str, Any]) -> dict[str, str]:
    """A ``client_get`` filter for a find key; fields it cannot express are left out (a superset)."""
    out = {}
    for name, value in key.items():
        column = CLIENT_COLUMNS.get(name) or (name if name in CLIENT_LOOKUPS else None)
        if column is not None and value is not None:
            out[column] = str(value)
    return out


#: Latin letters that NFKD does not take apart into an ASCII letter and a mark.
_LATIN = str.maketrans({"ß": "ss", "Æ": "Ae", "æ": "ae", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "Ł": "L",
                        "ł": "l", "Œ": "Oe", "œ": "oe", "Þ": "Th", "þ": "th", "ı": "i"})


def login_name(template: str, fields: Mapping[str, Any], attempt: int = 1) -> str:
    """A login name from ``username_template`` (``{email_local}``, ``{email}``, ``{first_name}``,
    ``{last_name}``, ``{company}``), folded to what ISPConfig accepts (``[a-z0-9._-]``, at most 64);
    ``attempt`` > 1 appends a number to step round names already taken."""
    email = str(fields.get("email") or "")
    values = {"email": email, "email_local": email.split("@")[0]}
    values.update({name: str(fields.get(name) or "") for name in ("first_name", "last_name", "company")})
    raw = template.format_map(values).translate(_LATIN)
    folded = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii").lower()
    name = re.sub(r"[^a-z0-9._-]+", "", folded).strip("._-") or "client"
    suffix = "" if attempt <= 1 else str(attempt)
    return name[:64 - len(suffix)] + suffix


# --- domains ---------------------------------------------------------------------------------

def domain_record(row: Mapping[str, Any], client: str | None) -> Record:
    return Record("domain", str(row["domain_id"]), {"name": _value(row, "domain")}, {"client": client})


def domain_params(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"domain": fields["name"]} if "name" in fields else {}


def domain_filter(key: Mapping[str, Any]) -> dict[str, str]:
    return {"domain": str(key["name"])} if key.get("name") is not None else {}


# --- sites -----------------------------------------------------------------------------------

def site_record(row: Mapping[str, Any], client: str | None) -> Record:
    php = _value(row, "php")
    fields = {
        "domain": _value(row, "domain"),
        "status": None if _value(row, "active") is None else ("active" if _yes(row["active"]) else "inactive"),
        "php": None if php is None or str(php).lower() == "no" else php,
        "ssl": _yes(_value(row, "ssl")),
        "quota_mb": _value(row, "hd_quota"),
    }
    return Record("site", str(row["domain_id"]), fields, {"client": client})


def site_changes(fields: Mapping[str, Any], defaults: Mapping[str, Any] = SITE_DEFAULTS, *,
                 letsencrypt: bool = False) -> dict[str, Any]:
    """The web-domain columns for the canonical fields present. ISPConfig has no empty status, TLS
    flag or quota, so ``None`` gives what an add with ``defaults`` gives; ``None`` PHP is ``no``."""
    out: dict[str, Any] = {}
    if "domain" in fields:
        out["domain"] = fields["domain"]
    if "status" in fields:
        out["active"] = "n" if fields["status"] == "inactive" else "y"
    if "php" in fields:
        out["php"] = fields["php"] or "no"
    if "ssl" in fields:
        out["ssl"] = "y" if fields["ssl"] else "n"
        if letsencrypt:
            out["ssl_letsencrypt"] = out["ssl"]
    if "quota_mb" in fields:
        quota = fields["quota_mb"]
        out["hd_quota"] = int(defaults.get("hd_quota", SITE_DEFAULTS["hd_quota"]) if quota is None else quota)
    return out


def site_add_params(fields: Mapping[str, Any], defaults: Mapping[str, Any], *, letsencrypt: bool = False) -> dict[str, Any]:
    columns = {**SITE_DEFAULTS, **defaults}
    return {**columns, **site_changes(fields, columns, letsencrypt=letsencrypt)}


def site_filter(key: Mapping[str, Any]) -> dict[str, str]:
    out = {"type": "vhost"}
    if key.get("domain") is not None:
        out["domain"] = str(key["domain"])
    return out


# --- what ISPConfig keeps ----------------------------------------------------------------------

def stored(kind: str, fields: Mapping[str, Any], site_defaults: Mapping[str, Any] = SITE_DEFAULTS) -> dict[str, Any]:
    """``fields`` as reading them back shows after writing them: written with the functions above,
    read with the record functions (so the two can never disagree). Fields not mapped pass through."""
    if kind == "client":
        back = client_record({"client_id": "0", **client_changes(fields)}).fields
    elif kind == "site":
        back = site_record({"domain_id": "0", **site_changes(fields, {**SITE_DEFAULTS, **site_defaults})}, None).fields
    else:
        back = domain_record({"domain_id": "0", **domain_params(fields)}, None).fields
    return {name: back[name] if name in back else value for name, value in fields.items()}
