"""The sandbox's ProWorkflow account: in-memory state and the calls of the classic API, behaving as
FACTS.md §4 and the vendor doc describe them (the HTTP side, authentication and the rate limit are in
:mod:`.sandbox`).

Each public ``<verb>_<resource>[_<sub>]`` method answers one call with a JSON-ready dict, or raises
:class:`ApiError` with ProWorkflow's error shape. Quirks kept on purpose:

* list defaults: projects and tasks ``status=active``, invoices ``status=unpaid``; time records
  tracked in the last 6 days (``trackedfrom=-6d``, ``trackedto=+0d``) and, without ``fields``, only
  the totals; companies ``code,name,type`` and other per-call default fields;
* ``pagenumber`` and ``pagesize`` only together (one alone is a 400); without them every match up to
  the 5,000-row cap; ``sortby`` from each call's list;
* ``lastmodifiedfrom``/``-to`` on the account's clock, ``lastmodifiedutcfrom``/``-to`` in UTC, both at
  minute precision (or relative: ``12h``); ``fields=lastmodified`` returns both stamps;
* creates answer 201 ``{"details": [{"id": ..}], "message": "...", "status": "Success"}`` and take an
  object or an array; project ``staff``/``clients``/``contractors`` and task ``contacts`` must be
  comma-separated strings (an array is a 500 whose ``details`` is a bare string with HTML);
* ``PUT /invoices/{id}`` with ``lines`` replaces every line; ``DELETE /projects/{id}`` deletes the
  project's tasks (and their time) with it; ``DELETE /companies/{id}`` its contacts (``deletecontacts``);
* API field filters match where the value *contains* the string.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

STAMP = "%Y-%m-%dT%H:%M:%S"
TABLES = ("companies", "contacts", "projects", "tasks", "time", "invoices")
#: The answer key of each resource's list and of one record.
KEYS = {"companies": ("companies", "company"), "contacts": ("contacts", "contact"),
        "projects": ("projects", "project"), "tasks": ("tasks", "task"), "time": ("timerecords", "timerecord"),
        "invoices": ("invoices", "invoice")}
SINGULAR = {"companies": "Company", "contacts": "Contact", "projects": "Project", "tasks": "Task",
            "time": "Time Record", "invoices": "Invoice"}
DEFAULT_FIELDS = {
    "companies": "code,name,type", "contacts": "name,company,type", "projects": "title,number,startdate,duedate",
    "tasks": "name,type,order,status,project,startdate,duedate",
    "invoices": "number,title,company,status,totals,projectid,invoiceddate,duedate", "time": "",
}
SORTS = {
    "companies": ("name", ("id", "name", "code")), "contacts": ("firstname", ("id", "firstname", "lastname")),
    "projects": ("number", ("id", "title", "number", "startdate", "duedate", "completedate")),
    "tasks": ("id", ("id", "order", "name", "startdate", "duedate", "completedate", "projectid")),
    "invoices": ("number", ("companyname", "duedate", "id", "invoiceddate", "number", "title")),
    "time": ("id", ("id", "date", "taskid", "projectid")),
}
LINE_TYPES = ("heading", "expense", "lineitem", "staffrate", "taskrate")
PAGING = "pagesize and pagenumber must both be provided in order to use paging"
_RELATIVE_AGO = re.compile(r"^(\d+)([nhdwm])$")
_RELATIVE_DATE = re.compile(r"^([+-])(\d+)([dwmy])$")


class ApiError(Exception):
    """A ProWorkflow error answer: ``status`` and ``details`` (a list, or a bare string)."""

    def __init__(self, status: int, details: Any) -> None:
        super().__init__(str(details))
        self.status = status
        self.details = details


def _bad(*messages: str) -> ApiError:
    return ApiError(400, list(messages))


class Account:
    """One ProWorkflow account: its settings, users, API fields and records."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.load({})

    # -- state ----------------------------------------------------------------------------------

    def load(self, data: Mapping[str, Any]) -> None:
        self.config: dict[str, Any] = {"timezone": "Pacific/Auckland", "tax_rate": "15", "row_cap": 5000,
                                       "payment_days": 20, "project_prefix": "P", "invoice_prefix": "INV-",
                                       **(data.get("config") or {})}
        self.tz = ZoneInfo(self.config["timezone"])
        self.apifields: list[dict[str, Any]] = copy.deepcopy(list(data.get("apifields") or []))
        self.t: dict[str, dict[int, dict[str, Any]]] = {
            name: {int(row["id"]): copy.deepcopy(dict(row)) for row in data.get(name) or []} for name in TABLES}
        self.counters: dict[str, int] = dict(data.get("counters") or {})

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"config": dict(self.config), "apifields": copy.deepcopy(self.apifields),
                               "counters": dict(self.counters)}
        for name, table in self.t.items():
            out[name] = [copy.deepcopy(table[i]) for i in sorted(table)]
        return out

    def now(self) -> datetime:
        return self._now().astimezone(timezone.utc).replace(microsecond=0)

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()

    def login(self, username: str, password: str) -> dict[str, Any] | None:
        """The contact that may log in with this user name (or e-mail) and password."""
        name = username.strip().casefold()
        for contact in self.t["contacts"].values():
            if not contact.get("allowlogin") or contact.get("password") != password:
                continue
            if name in (str(contact.get("username") or "").casefold(), str(contact.get("email") or "").casefold()):
                return contact
        return None

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        new = max(self.t[table], default=0) + 1
        row["id"] = new
        row["modified"] = self.now().strftime(STAMP)
        self.t[table][new] = row
        return new

    def _touch(self, row: dict[str, Any]) -> None:
        row["modified"] = self.now().strftime(STAMP)

    def _row(self, table: str, ident: str) -> dict[str, Any]:
        row = self.t[table].get(int(ident)) if str(ident).isdigit() else None
        if row is None:
            raise ApiError(404, [f"Invalid {SINGULAR[table]} ID"])
        return row

    def _next_number(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        prefix = self.config[f"{kind}_prefix"]
        return f"{prefix}{self.counters[kind]:05d}"

    # -- parsing the calls' values --------------------------------------------------------------

    def _date(self, name: str, value: Any) -> str | None:
        """``yyyy-mm-dd`` or a relative ``+/-Xd/w/m/y``; ``""`` clears."""
        if value in (None, ""):
            return None
        text = str(value).strip()
        match = _RELATIVE_DATE.match(text)
        if match:
            sign, count, unit = match.groups()
            n = int(count) * (-1 if sign == "-" else 1)
            base = self.today()
            if unit in ("d", "w"):
                return (base + timedelta(days=n * (7 if unit == "w" else 1))).isoformat()
            months = base.month - 1 + n * (12 if unit == "y" else 1)
            year, month = base.year + months // 12, months % 12 + 1
            return date(year, month, min(base.day, 28)).isoformat()
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise _bad(f"'{name}' must be a date in yyyy-mm-dd format or a relative date") from None

    def _moment(self, name: str, value: str, utc: bool) -> datetime:
        """A ``lastmodified*`` filter value as UTC: ``yyyy-mm-ddThh:mm`` (account clock unless ``utc``)
        or ``X`` minutes/hours/days/weeks/months ago."""
        text = value.strip()
        match = _RELATIVE_AGO.match(text)
        if match:
            count, unit = int(match.group(1)), match.group(2)
            span = {"n": timedelta(minutes=count), "h": timedelta(hours=count), "d": timedelta(days=count),
                    "w": timedelta(weeks=count), "m": timedelta(days=30 * count)}[unit]
            return self.now() - span
        try:
            moment = datetime.strptime(text, "%Y-%m-%dT%H:%M")
        except ValueError:
            raise _bad(f"'{name}' must be a date in ISO8601 (yyyy-mm-ddThh:mm) format or Xn/h/d/w/m") from None
        return moment.replace(tzinfo=timezone.utc if utc else self.tz).astimezone(timezone.utc)

    @staticmethod
    def _csv(name: str, value: Any) -> str:
        """Contact lists are comma-separated strings; an array makes the vendor fail with a 500."""
        if isinstance(value, (list, dict)):
            raise ApiError(500, f"<b>Error</b>: Array to string conversion for '{name}' "
                                "(<i>expected a comma separated list of IDs</i>)")
        return "" if value is None else str(value)

    @staticmethod
    def _money(value: Any, name: str) -> Decimal:
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise _bad(f"'{name}' must be a number") from None
        if not number.is_finite():
            raise _bad(f"'{name}' must be a number")
        return number

    def _apifields_in(self, kind: str, value: Any, row: dict[str, Any]) -> None:
        if value is None:
            return
        if not isinstance(value, list) or not all(isinstance(v, Mapping) and "id" in v for v in value):
            raise _bad("'apifields' must be a list of {id, value}")
        known = {str(f["id"]): f for f in self.apifields if f.get("type") == kind}
        stored = dict(row.get("apifields") or {})
        for item in value:
            if str(item["id"]) not in known:
                raise _bad(f"Invalid API Field ID {item['id']}")
            stored[str(item["id"])] = "" if item.get("value") is None else str(item["value"])
        row["apifields"] = stored

    def _apifields_out(self, kind: str, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        values = row.get("apifields") or {}
        return [{"id": f["id"], "name": f["name"], "value": values.get(str(f["id"]), "")}
                for f in self.apifields if f.get("type") == kind]

    # -- lists ----------------------------------------------------------------------------------

    def _list(self, table: str, rows: list[dict[str, Any]], params: Mapping[str, str],
              render: Callable[[dict[str, Any], set[str]], dict[str, Any]], kind: str,
              extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Filter by the common parameters, sort, page and render a list answer."""
        rows = self._common_filters(rows, params, kind)
        default_sort, sorts = SORTS[table]
        sortby = params.get("sortby") or default_sort
        if sortby not in sorts:
            raise _bad(f"'sortby' must be one of {', '.join(sorts)}")
        reverse = (params.get("sortorder") or "asc").lower() == "desc"
        rows = sorted(rows, key=lambda r: (_sort_key(self._sort_value(table, r, sortby)), r["id"]), reverse=reverse)
        total = len(rows)
        number, size = params.get("pagenumber"), params.get("pagesize")
        if (number is None) != (size is None):
            raise _bad(PAGING)
        if number is not None:
            if not str(number).isdigit() or not str(size).isdigit() or int(number) < 1 or int(size) < 1:
                raise _bad("pagenumber and pagesize must be positive whole numbers")
            start = (int(number) - 1) * int(size)
            rows = rows[start:start + int(size)]
        rows = rows[:int(self.config["row_cap"])]
        wanted = _fields(params.get("fields"), DEFAULT_FIELDS[table])
        key = KEYS[table][0]
        return {"count": len(rows), "totalcount": total, "status": "Success",
                key: [render(row, wanted) for row in rows], **(extra or {})}

    def _sort_value(self, table: str, row: Mapping[str, Any], sortby: str) -> Any:
        if table == "time" and sortby == "projectid":
            return self._project_of(row)
        if sortby == "companyname":
            company = self.t["companies"].get(int(row.get("companyid") or 0))
            return company["name"] if company else ""
        return row.get(sortby)

    def _common_filters(self, rows: list[dict[str, Any]], params: Mapping[str, str], kind: str) -> list[dict[str, Any]]:
        if params.get("id"):
            ids = {int(i) for i in str(params["id"]).split(",") if i.strip().isdigit()}
            rows = [r for r in rows if r["id"] in ids]
        if params.get("idfrom"):  # the doc prints idfrom/idto inverted; a lower bound is what works
            rows = [r for r in rows if r["id"] >= int(params["idfrom"])]
        if params.get("idto"):
            rows = [r for r in rows if r["id"] <= int(params["idto"])]
        for name, utc, after in (("lastmodifiedfrom", False, True), ("lastmodifiedto", False, False),
                                 ("lastmodifiedutcfrom", True, True), ("lastmodifiedutcto", True, False)):
            if params.get(name):
                bound = self._moment(name, params[name], utc)
                if after:
                    rows = [r for r in rows if _utc(r["modified"]) >= bound]
                else:  # "on or before" the minute given: the whole minute counts
                    rows = [r for r in rows if _utc(r["modified"]) < bound + timedelta(minutes=1)]
        if params.get("apifields"):
            pairs = []
            for pair in str(params["apifields"]).split("||"):
                field_id, _, value = pair.partition(",")
                pairs.append((field_id.strip(), value))
            mode = all if (params.get("apifieldsmode") or "any") == "all" else any
            rows = [r for r in rows
                    if mode(value.casefold() in str((r.get("apifields") or {}).get(fid, "")).casefold()
                            for fid, value in pairs)]
        return rows

    def _lastmodified(self, row: Mapping[str, Any]) -> dict[str, str]:
        moment = _utc(row["modified"])
        return {"lastmodified": moment.astimezone(self.tz).strftime(STAMP), "lastmodifiedutc": moment.strftime(STAMP)}

    @staticmethod
    def _search(rows: list[dict[str, Any]], params: Mapping[str, str], names: Mapping[str, tuple[str, ...]]
                ) -> list[dict[str, Any]]:
        """``search*`` parameters: rows where the columns contain the string (``!string``: do not)."""
        for param, columns in names.items():
            value = params.get(param)
            if not value:
                continue
            negate = value.startswith("!")
            needle = value[1:].casefold() if negate else value.casefold()
            def hit(row: dict[str, Any], columns: tuple[str, ...] = columns, needle: str = needle) -> bool:
                return any(needle in str(_value(row, c) or "").casefold() for c in columns)
            rows = [r for r in rows if hit(r) != negate]
        return rows

    @staticmethod
    def _status(rows: list[dict[str, Any]], params: Mapping[str, str], default: str,
                allowed: tuple[str, ...]) -> list[dict[str, Any]]:
        status = (params.get("status") or default).lower()
        if status not in allowed + ("all",):
            raise _bad(f"'status' must be one of {', '.join(allowed + ('all',))}")
        return rows if status == "all" else [r for r in rows if r.get("status") == status]

    # -- me, settings ---------------------------------------------------------------------------

    def get_me(self, user: Mapping[str, Any]) -> dict[str, Any]:
        return {"count": 1, "status": "Success", "contact": self._contact(user, _ALL)}

    def get_login(self, user: Mapping[str, Any], apikey: str) -> dict[str, Any]:
        return {"count": 1, "status": "Success", "contact": self._contact(user, {"name", "email", "type"}),
                "account": {"apikey": apikey, "timezone": self.config["timezone"]}}

    def get_apifields(self, params: Mapping[str, str]) -> dict[str, Any]:
        rows = [dict(f) for f in self.apifields]
        return {"count": len(rows), "status": "Success", "apifields": rows}

    # -- companies ------------------------------------------------------------------------------

    def _company(self, row: Mapping[str, Any], wanted: set[str], contactdetails: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": row["id"]}
        for name in ("code", "name", "type", "email", "phone", "fax", "website"):
            if name in wanted:
                out[name] = row.get(name) or ""
        if "address" in wanted:
            out.update({k: row.get(k) or "" for k in ("address1", "address2", "address3", "city", "state",
                                                      "zipcode", "country")})
        if "contacts" in wanted:
            contacts = sorted((c for c in self.t["contacts"].values() if c.get("companyid") == row["id"]),
                              key=lambda c: c["id"])
            out["contacts"] = [{"id": c["id"], "name": _name(c), "firstname": c.get("firstname") or "",
                                "lastname": c.get("lastname") or "",
                                **({"email": c.get("email") or "", "phone": c.get("workphone") or c.get("mobilephone") or ""}
                                   if contactdetails else {})} for c in contacts]
        if "lastmodified" in wanted:
            out.update(self._lastmodified(row))
        if "apifields" in wanted:
            out["apifields"] = self._apifields_out("company", row)
        if "tags" in wanted:
            out["tags"] = []
        return out

    def get_companies(self, params: Mapping[str, str]) -> dict[str, Any]:
        pending = (params.get("pending") or "false").lower() == "true"
        rows = [r for r in self.t["companies"].values() if bool(r.get("pending")) == pending]
        if params.get("type"):
            rows = [r for r in rows if r.get("type") == params["type"]]
        rows = self._search(rows, params, {"search": ("name", "code"), "searchname": ("name",),
                                           "searchcode": ("code",), "searchemail": ("email",)})
        details = (params.get("contactdetails") or "false").lower() == "true"
        return self._list("companies", rows, params, lambda r, w: self._company(r, w, details), "company")

    def get_company(self, ident: str) -> dict[str, Any]:
        return {"count": 1, "status": "Success", "company": self._company(self._row("companies", ident), _ALL, True)}

    def post_companies(self, body: Any) -> dict[str, Any]:
        items = body if isinstance(body, list) else [body]
        rows = []
        for item in items:
            if not isinstance(item, Mapping):
                raise _bad("Invalid data")
            missing = [f"'{k}' is a required field" for k in ("name", "type") if not item.get(k)]
            if missing:
                raise _bad(*missing)
            if item["type"] not in ("client", "contractor", "other"):
                raise _bad("'type' must be one of client, contractor, other")
            row = {"name": str(item["name"]), "type": item["type"], "pending": False}
            self._company_fields(row, item)
            rows.append(row)
        ids = [self._insert("companies", row) for row in rows]
        return _created(ids, rows, "name", "Company Added" if len(ids) == 1 else "Companies Added")

    def _company_fields(self, row: dict[str, Any], item: Mapping[str, Any]) -> None:
        for name in ("name", "code", "email", "phone", "fax", "website", "address1", "address2", "address3",
                     "city", "state", "zipcode", "country"):
            if name in item:
                if name == "name" and not item[name]:
                    raise _bad("'name' is a required field")
                row[name] = "" if item[name] is None else str(item[name])
        self._apifields_in("company", item.get("apifields"), row)

    def put_company(self, ident: str, body: Any) -> dict[str, Any]:
        row = self._row("companies", ident)
        if not isinstance(body, Mapping):
            raise _bad("Invalid data")
        changed = dict(row)
        self._company_fields(changed, body)
        if "type" in body and body["type"] != row.get("type"):
            raise _bad("The Company Type cannot be changed while its Contacts are assigned to Projects/Tasks")
        row.update(changed)
        self._touch(row)
        return _updated(row["id"], "Company Updated")

    def delete_company(self, ident: str, params: Mapping[str, str]) -> dict[str, Any]:
        row = self._row("companies", ident)
        if (params.get("deletecontacts") or "true").lower() == "true":
            for contact_id in [c["id"] for c in self.t["contacts"].values() if c.get("companyid") == row["id"]]:
                del self.t["contacts"][contact_id]
        del self.t["companies"][row["id"]]
        return {"status": "Success", "message": "Company Deleted"}

    # -- contacts -------------------------------------------------------------------------------

    def _contact(self, row: Mapping[str, Any], wanted: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": row["id"]}
        if "name" in wanted:
            out.update(name=_name(row), firstname=row.get("firstname") or "", lastname=row.get("lastname") or "")
        if "company" in wanted:
            company = self.t["companies"].get(int(row.get("companyid") or 0))
            out.update(companyid=row.get("companyid") or 0, companyname=company["name"] if company else "")
        if "type" in wanted:
            out["type"] = row.get("type")
        if "email" in wanted:
            out["email"] = row.get("email") or ""
        if "phone" in wanted:
            out.update(workphone=row.get("workphone") or "", mobilephone=row.get("mobilephone") or "")
        if "address" in wanted:
            out.update({k: row.get(k) or "" for k in ("address1", "address2", "address3", "city", "state",
                                                      "zipcode", "country")})
        if "title" in wanted:
            out["title"] = row.get("title") or ""
        if "logindetails" in wanted:
            out.update(allowlogin=bool(row.get("allowlogin")), username=row.get("username") or "")
        if "lastmodified" in wanted:
            out.update(self._lastmodified(row))
        if "apifields" in wanted:
            out["apifields"] = self._apifields_out("contact", row)
        return out

    def get_contacts(self, params: Mapping[str, str], company: str | None = None) -> dict[str, Any]:
        pending = (params.get("pending") or "false").lower() == "true"
        rows = [r for r in self.t["contacts"].values() if bool(r.get("pending")) == pending]
        company = company or params.get("companyid")
        if company:
            rows = [r for r in rows if str(r.get("companyid")) == str(company)]
        if params.get("type"):
            rows = [r for r in rows if r.get("type") == params["type"]]
        rows = self._search(rows, params, {"search": ("name", "email"), "searchname": ("name",),
                                           "searchemail": ("email",)})
        return self._list("contacts", rows, params, self._contact, "contact")

    def get_contact(self, ident: str) -> dict[str, Any]:
        return {"count": 1, "status": "Success", "contact": self._contact(self._row("contacts", ident), _ALL)}

    def post_contacts(self, body: Any, company: str | None = None) -> dict[str, Any]:
        items = body if isinstance(body, list) else [body]
        rows = []
        for item in items:
            if not isinstance(item, Mapping):
                raise _bad("Invalid data")
            required = ("firstname", "lastname") if company else ("companyid", "firstname", "lastname", "type")
            missing = [f"'{k}' is a required field" for k in required if not item.get(k)]
            if missing:
                raise _bad(*missing)
            owner = self._row("companies", str(company or item["companyid"]))
            row = {"companyid": owner["id"], "type": item.get("type") or owner.get("type") or "client",
                   "pending": False}
            self._contact_fields(row, item)
            rows.append(row)
        ids = [self._insert("contacts", row) for row in rows]
        return _created(ids, rows, "firstname", "Contact Added" if len(ids) == 1 else "Contacts Added")

    def _contact_fields(self, row: dict[str, Any], item: Mapping[str, Any]) -> None:
        for name in ("firstname", "lastname"):
            if name in item and not item[name]:
                raise _bad(f"'{name}' is a required field")
        for name in ("firstname", "lastname", "email", "workphone", "mobilephone", "title", "username", "address1",
                     "address2", "address3", "city", "state", "zipcode", "country"):
            if name in item:
                row[name] = "" if item[name] is None else str(item[name])
        if "allowlogin" in item:
            row["allowlogin"] = str(item["allowlogin"]).lower() == "true"
        self._apifields_in("contact", item.get("apifields"), row)

    def put_contact(self, ident: str, body: Any) -> dict[str, Any]:
        row = self._row("contacts", ident)
        if not isinstance(body, Mapping):
            raise _bad("Invalid data")
        changed = dict(row)
        self._contact_fields(changed, body)
        row.update(changed)
        self._touch(row)
        return _updated(row["id"], "Contact Updated")

    def delete_contact(self, ident: str) -> dict[str, Any]:
        row = self._row("contacts", ident)
        del self.t["contacts"][row["id"]]
        return {"status": "Success", "message": "Contact Deleted"}

    def contact_id(self, value: Any, user: Mapping[str, Any]) -> int:
        if value in (None, "", "me"):
            return int(user["id"])
        row = self._row("contacts", str(value))
        return int(row["id"])

    # -- projects -------------------------------------------------------------------------------

    def _project(self, row: Mapping[str, Any], wanted: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": row["id"]}
        for name in ("title", "number", "description", "status", "priority", "startdate", "duedate", "completedate"):
            if name in wanted or (name.endswith("date") and "dates" in wanted):
                out[name] = row.get(name) or ("" if name not in ("priority",) else 3)
        if "company" in wanted:
            company = self.t["companies"].get(int(row.get("companyid") or 0))
            out.update(companyid=row.get("companyid") or 0, companyname=company["name"] if company else "")
        if "contacts" in wanted or "manager" in wanted:
            out["managerid"] = row.get("managerid")
        if "contacts" in wanted:
            out.update({k: row.get(k) or "" for k in ("staff", "clients", "contractors")})
        if "lastmodified" in wanted:
            out.update(self._lastmodified(row))
        if "apifields" in wanted:
            out["apifields"] = self._apifields_out("project", row)
        return out

    def get_projects(self, params: Mapping[str, str], company: str | None = None) -> dict[str, Any]:
        rows = list(self.t["projects"].values())
        if company:
            rows = [r for r in rows if str(r.get("companyid")) == str(self._row("companies", company)["id"])]
        rows = self._status(rows, params, "active", ("active", "complete"))
        rows = self._search(rows, params, {"search": ("number", "title"), "searchtitle": ("title",),
                                           "searchnumber": ("number",), "searchdescription": ("description",)})
        return self._list("projects", rows, params, self._project, "project")

    def get_project(self, ident: str) -> dict[str, Any]:
        return {"count": 1, "status": "Success", "project": self._project(self._row("projects", ident), _ALL)}

    def post_projects(self, body: Any, user: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise _bad("Invalid data")
        if not body.get("title"):
            raise _bad("'title' is a required field")
        row: dict[str, Any] = {"status": "active", "managerid": self.contact_id(body.get("managerid"), user),
                               "priority": 3, "staff": "", "clients": "", "contractors": ""}
        self._project_fields(row, body)
        number = body.get("number") or "auto"
        row["number"] = self._next_number("project") if number == "auto" else str(number)
        if row.get("completedate"):
            row["status"] = "complete"
        new = self._insert("projects", row)
        return _created([new], [row], "title", "Project Added")

    def _project_fields(self, row: dict[str, Any], body: Mapping[str, Any]) -> None:
        for name in ("staff", "clients", "contractors"):
            if name in body:
                row[name] = self._csv(name, body[name])
        if "title" in body:
            if not body["title"]:
                raise _bad("'title' is a required field")
            row["title"] = str(body["title"])
        if "description" in body:
            row["description"] = "" if body["description"] is None else str(body["description"])
        for name in ("startdate", "duedate", "completedate"):
            if name in body:
                row[name] = self._date(name, body[name])
        if "companyid" in body:
            company = int(body["companyid"] or 0)
            if company and (company not in self.t["companies"] or self.t["companies"][company]["type"] != "client"):
                raise _bad("'companyid' must be the ID of a Client Company")
            row["companyid"] = company
        if "priority" in body:
            row["priority"] = self._priority(body["priority"])
        self._apifields_in("project", body.get("apifields"), row)

    @staticmethod
    def _priority(value: Any) -> int:
        """A project's or task's priority: 1-5, Very High to Very Low."""
        if str(value) not in ("1", "2", "3", "4", "5"):
            raise _bad("'priority' must be 1-5")
        return int(value)

    def put_project(self, ident: str, body: Any) -> dict[str, Any]:
        row = self._row("projects", ident)
        if not isinstance(body, Mapping):
            raise _bad("Invalid data")
        changed = dict(row)
        self._project_fields(changed, body)
        row.update(changed)
        self._touch(row)
        return _updated(row["id"], "Project Updated")

    def delete_project(self, ident: str) -> dict[str, Any]:
        """Deletes the project's tasks (and their time) too."""
        row = self._row("projects", ident)
        for task_id in [t["id"] for t in self.t["tasks"].values() if t.get("projectid") == row["id"]]:
            self._drop_task(task_id)
        del self.t["projects"][row["id"]]
        return {"status": "Success", "message": "Project Deleted"}

    def put_state(self, table: str, ident: str, complete: bool) -> dict[str, Any]:
        """``PUT /projects|tasks/{id}/complete`` and ``/reactivate``."""
        row = self._row(table, ident)
        row.update(status="complete" if complete else "active",
                   completedate=self.today().isoformat() if complete else None)
        self._touch(row)
        return {"status": "Success", "message": f"{SINGULAR[table]} {'Completed' if complete else 'Reactivated'}"}

    # -- tasks ----------------------------------------------------------------------------------

    def _task(self, row: Mapping[str, Any], wanted: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": row["id"]}
        for name in ("name", "type", "order", "status", "description", "priority", "billable", "startdate",
                     "duedate", "completedate"):
            if name in wanted or (name.endswith("date") and "dates" in wanted):
                out[name] = row.get(name) if row.get(name) is not None else ""
        if "project" in wanted:
            project = self.t["projects"].get(int(row.get("projectid") or 0))
            out.update(projectid=row.get("projectid") or 0, projectnumber=project["number"] if project else "",
                       projecttitle=project["title"] if project else "")
        if "contacts" in wanted:
            ids = [int(i) for i in str(row.get("contacts") or "").split(",") if i.strip().isdigit()]
            out["contacts"] = [{"id": i, "name": _name(self.t["contacts"][i])} for i in ids if i in self.t["contacts"]]
        if "lastmodified" in wanted:
            out.update(self._lastmodified(row))
        if "apifields" in wanted:
            out["apifields"] = self._apifields_out("task", row)
        return out

    def get_tasks(self, params: Mapping[str, str], project: str | None = None) -> dict[str, Any]:
        rows = list(self.t["tasks"].values())
        project = project or params.get("projectid")
        if project:
            wanted = {int(i) for i in str(project).split(",") if i.strip().isdigit()}
            rows = [r for r in rows if int(r.get("projectid") or 0) in wanted]
        if (params.get("generaltasks") or "true").lower() == "false":
            rows = [r for r in rows if r.get("projectid")]
        if (params.get("projecttasks") or "true").lower() == "false":
            rows = [r for r in rows if not r.get("projectid")]
        rows = self._status(rows, params, "active", ("active", "complete"))
        rows = self._search(rows, params, {"searchname": ("name",), "searchdescription": ("description",)})
        return self._list("tasks", rows, params, self._task, "task")

    def get_task(self, ident: str) -> dict[str, Any]:
        return {"count": 1, "status": "Success", "task": self._task(self._row("tasks", ident), _ALL)}

    def post_tasks(self, body: Any) -> dict[str, Any]:
        items = body if isinstance(body, list) else [body]
        rows = []
        projects = set()
        for item in items:
            if not isinstance(item, Mapping):
                raise _bad("Invalid data")
            missing = [f"'{k}' is a required field" for k in ("projectid", "name") if not item.get(k)]
            if missing:
                raise _bad(*missing)
            project = self._row("projects", str(item["projectid"]))
            projects.add(project["id"])
            order = 1 + max((t.get("order") or 0 for t in self.t["tasks"].values()
                             if t.get("projectid") == project["id"]), default=0)
            row = {"projectid": project["id"], "status": "active", "type": "normal", "order": order, "priority": 3,
                   "billable": True, "contacts": ""}
            self._task_fields(row, item)
            rows.append(row)
        if len(projects) > 1:
            raise _bad("All Tasks must belong to the same Project")
        ids = [self._insert("tasks", row) for row in rows]
        return _created(ids, rows, "name", "Task Added" if len(ids) == 1 else "Tasks Added")

    def _task_fields(self, row: dict[str, Any], body: Mapping[str, Any]) -> None:
        if "contacts" in body:
            row["contacts"] = self._csv("contacts", body["contacts"])
        if "name" in body:
            if not body["name"]:
                raise _bad("'name' is a required field")
            row["name"] = str(body["name"])
        if "description" in body:
            row["description"] = "" if body["description"] is None else str(body["description"])
        for name in ("startdate", "duedate"):
            if name in body:
                row[name] = self._date(name, body[name])
        if "type" in body:
            if body["type"] not in ("normal", "bold", "heading"):
                raise _bad("'type' must be one of normal, bold, heading")
            row["type"] = body["type"]
        if "billable" in body:
            row["billable"] = str(body["billable"]).lower() == "true"
        if "priority" in body:
            row["priority"] = self._priority(body["priority"])
        if "projectid" in body and body["projectid"]:
            row["projectid"] = self._row("projects", str(body["projectid"]))["id"]
        self._apifields_in("task", body.get("apifields"), row)

    def put_task(self, ident: str, body: Any) -> dict[str, Any]:
        row = self._row("tasks", ident)
        if not isinstance(body, Mapping):
            raise _bad("Invalid data")
        changed = dict(row)
        self._task_fields(changed, body)
        row.update(changed)
        self._touch(row)
        return _updated(row["id"], "Task Updated")

    def delete_task(self, ident: str) -> dict[str, Any]:
        self._drop_task(self._row("tasks", ident)["id"])
        return {"status": "Success", "message": "Task Deleted"}

    def _drop_task(self, task_id: int) -> None:
        for time_id in [r["id"] for r in self.t["time"].values() if r.get("taskid") == task_id]:
            del self.t["time"][time_id]
        del self.t["tasks"][task_id]

    # -- time records ---------------------------------------------------------------------------

    def _time(self, row: Mapping[str, Any], wanted: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": row["id"]}
        task = self.t["tasks"].get(int(row.get("taskid") or 0))
        project = self.t["projects"].get(int(task.get("projectid") or 0)) if task else None
        if "billable" in wanted:
            out["billable"] = bool(row.get("billable"))
        if "company" in wanted:
            company = self.t["companies"].get(int(project.get("companyid") or 0)) if project else None
            out.update(companyid=company["id"] if company else 0, companyname=company["name"] if company else "")
        if "contact" in wanted:
            contact = self.t["contacts"].get(int(row.get("contactid") or 0))
            out.update(contactid=row.get("contactid") or 0, contactname=_name(contact) if contact else "")
        if "dates" in wanted:
            out.update(date=row.get("date"), starttime=row.get("starttime") or "", endtime=row.get("endtime") or "")
        if "notes" in wanted:
            out["notes"] = row.get("notes") or ""
        if "project" in wanted:
            out.update(projectid=project["id"] if project else 0, projecttitle=project["title"] if project else "",
                       projectnumber=project["number"] if project else "")
        if "task" in wanted:
            out.update(taskid=row.get("taskid") or 0, taskname=task["name"] if task else "")
        if "timetracked" in wanted:
            out["timetracked"] = row.get("timetracked") or 0
        if "lastmodified" in wanted:
            out.update(self._lastmodified(row))
        if "apifields" in wanted:
            out["apifields"] = self._apifields_out("time", row)
        return out

    def get_time(self, params: Mapping[str, str], task: str | None = None) -> dict[str, Any]:
        tracked_from = self._date("trackedfrom", params.get("trackedfrom") or "-6d")
        tracked_to = self._date("trackedto", params.get("trackedto") or "+0d")
        rows = [r for r in self.t["time"].values() if tracked_from <= str(r.get("date")) <= tracked_to]  # type: ignore[operator]
        task = task or params.get("taskid")
        if task:
            wanted = {int(i) for i in str(task).split(",") if i.strip().isdigit()}
            rows = [r for r in rows if int(r.get("taskid") or 0) in wanted]
        if params.get("projectid"):
            wanted = {int(i) for i in str(params["projectid"]).split(",") if i.strip().isdigit()}
            rows = [r for r in rows if self._project_of(r) in wanted]
        if (params.get("generaltasks") or "true").lower() == "false":
            rows = [r for r in rows if self._project_of(r)]
        contacts = params.get("contacts") or "all"
        if contacts != "all":
            wanted = {int(i) for i in contacts.split(",") if i.strip().isdigit()}
            rows = [r for r in rows if int(r.get("contactid") or 0) in wanted]
        billable = params.get("billable") or "all"
        if billable != "all":
            rows = [r for r in rows if bool(r.get("billable")) == (billable == "billable")]
        totals = {"timetracked": sum(int(r.get("timetracked") or 0) for r in self._common_filters(rows, params, "time")),
                  "billable": sum(int(r.get("timetracked") or 0) for r in rows if r.get("billable"))}
        if not params.get("fields") or params.get("fields") == "none":
            if params.get("pagenumber") or params.get("pagesize"):
                self._list("time", rows, params, self._time, "time")  # the paging rules still apply
            return {"status": "Success", "totals": totals}  # totals only, without fields
        return self._list("time", rows, params, self._time, "time", extra={"totals": totals})

    def _project_of(self, row: Mapping[str, Any]) -> int:
        task = self.t["tasks"].get(int(row.get("taskid") or 0))
        return int(task.get("projectid") or 0) if task else 0

    def get_timerecord(self, ident: str) -> dict[str, Any]:
        row = self._row("time", ident)
        return {"count": 1, "status": "Success", "timerecord": self._time(row, _ALL)}

    def post_time(self, body: Any, user: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise _bad("Invalid data")
        if not body.get("taskid"):
            raise _bad("'taskid' is a required field")
        row: dict[str, Any] = {"billable": True, "date": self.today().isoformat()}
        self._time_fields(row, body, user)
        if not row.get("timetracked") and not (row.get("starttime") and row.get("endtime")):
            raise _bad("'timetracked' or 'starttime' and 'endtime' must be provided")
        new = self._insert("time", row)
        return _created([new], [row], "notes", "Time Added")

    def _time_fields(self, row: dict[str, Any], body: Mapping[str, Any], user: Mapping[str, Any]) -> None:
        if "taskid" in body:
            row["taskid"] = self._row("tasks", str(body["taskid"]))["id"]
        if "contactid" in body or "contactid" not in row:
            row["contactid"] = self.contact_id(body.get("contactid"), user)
        if "date" in body:
            row["date"] = self._date("date", body["date"]) or self.today().isoformat()
        for name in ("starttime", "endtime"):
            if name in body:
                row[name] = _clock(name, body[name])
        if "timetracked" in body:
            if not str(body["timetracked"]).isdigit():
                raise _bad("'timetracked' must be a whole number of minutes")
            row["timetracked"] = int(body["timetracked"])
        elif row.get("starttime") and row.get("endtime") and ("starttime" in body or "endtime" in body):
            start, end = (datetime.combine(date.min, time.fromisoformat(row[k])) for k in ("starttime", "endtime"))
            row["timetracked"] = max(0, int((end - start).total_seconds() // 60))
        if row.get("starttime") and row.get("timetracked") and "endtime" not in body:
            start = datetime.combine(date.min, time.fromisoformat(row["starttime"]))
            row["endtime"] = (start + timedelta(minutes=int(row["timetracked"]))).strftime("%H:%M")
        if "notes" in body:
            row["notes"] = "" if body["notes"] is None else str(body["notes"])
        if "billable" in body:
            row["billable"] = str(body["billable"]).lower() == "true"
        self._apifields_in("time", body.get("apifields"), row)

    def put_timerecord(self, ident: str, body: Any, user: Mapping[str, Any]) -> dict[str, Any]:
        row = self._row("time", ident)
        if not isinstance(body, Mapping):
            raise _bad("Invalid data")
        changed = dict(row)
        self._time_fields(changed, body, user)
        row.update(changed)
        self._touch(row)
        return _updated(row["id"], "Time Updated")

    def delete_timerecord(self, ident: str) -> dict[str, Any]:
        row = self._row("time", ident)
        del self.t["time"][row["id"]]
        return {"status": "Success", "message": "Time Deleted"}

    # -- invoices -------------------------------------------------------------------------------

    def _totals(self, row: Mapping[str, Any]) -> dict[str, str]:
        subtotal = taxable = Decimal(0)
        for line in row.get("lines") or []:
            amount = _line_total(line)
            subtotal += amount
            if line.get("taxable"):
                taxable += amount
        rate = Decimal(str(row.get("taxrate") or self.config["tax_rate"])) if row.get("taxable", True) else Decimal(0)
        tax = (taxable * rate / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        discount = Decimal(str(row.get("discount") or 0))
        return {"subtotal": str(subtotal.quantize(Decimal("0.01"))), "taxtotal": str(tax),
                "grandtotal": str((subtotal + tax - discount).quantize(Decimal("0.01")))}

    def _invoice(self, row: Mapping[str, Any], wanted: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": row["id"]}
        for name in ("number", "title", "description", "status", "invoiceddate", "duedate", "paiddate",
                     "purchaseordernumber"):
            if name in wanted or (name in ("invoiceddate", "duedate", "paiddate") and "dates" in wanted):
                out[name] = row.get(name) or ""
        if "projectid" in wanted or "project" in wanted:
            out["projectid"] = row.get("projectid") or 0
        if "project" in wanted:
            project = self.t["projects"].get(int(row.get("projectid") or 0))
            out.update(projecttitle=project["title"] if project else "", projectnumber=project["number"] if project else "")
        if "company" in wanted:
            company = self.t["companies"].get(int(row.get("companyid") or 0))
            out.update(companyid=row.get("companyid") or 0, companyname=company["name"] if company else "")
        if "totals" in wanted:
            out.update(self._totals(row))
        if "taxable" in wanted:
            out["taxable"] = bool(row.get("taxable", True))
        if "lastmodified" in wanted:
            out.update(self._lastmodified(row))
        if "apifields" in wanted:
            out["apifields"] = self._apifields_out("invoice", row)
        if "lines" in wanted:
            out["lines"] = [{**line, "total": str(_line_total(line).quantize(Decimal("0.01")))}
                            for line in row.get("lines") or []]
        return out

    def get_invoices(self, params: Mapping[str, str], company: str | None = None) -> dict[str, Any]:
        rows = list(self.t["invoices"].values())
        company = company or params.get("companyid")
        if company:
            wanted = {int(i) for i in str(company).split(",") if i.strip().isdigit()}
            rows = [r for r in rows if int(r.get("companyid") or 0) in wanted]
        if params.get("projectid"):
            wanted = {int(i) for i in str(params["projectid"]).split(",") if i.strip().isdigit()}
            rows = [r for r in rows if int(r.get("projectid") or 0) in wanted]
        rows = self._status(rows, params, "unpaid", ("paid", "unpaid"))
        rows = self._search(rows, params, {"search": ("number", "title"), "searchnumber": ("number",),
                                           "searchtitle": ("title",)})
        all_rows = self._common_filters(rows, params, "invoice")
        grand = sum((Decimal(self._totals(r)["grandtotal"]) for r in all_rows), Decimal(0))
        return self._list("invoices", rows, params, self._invoice, "invoice",
                          extra={"totals": {"grandtotal": str(grand)}})

    def get_invoice(self, ident: str) -> dict[str, Any]:
        return {"count": 1, "status": "Success",
                "invoice": self._invoice(self._row("invoices", ident), _ALL | {"lines"})}

    def get_invoice_lines(self, ident: str) -> dict[str, Any]:
        lines = self._invoice(self._row("invoices", ident), {"lines"})["lines"]
        return {"count": len(lines), "status": "Success", "lines": lines}

    def post_invoices(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise _bad("Invalid data")
        missing = [f"'{k}' is a required field" for k in ("companyid", "contactid", "projectid", "title", "lines")
                   if not body.get(k)]
        if missing:
            raise _bad(*missing)
        company = self._row("companies", str(body["companyid"]))
        contact = self._row("contacts", str(body["contactid"]))
        if contact.get("companyid") != company["id"]:
            raise _bad("'contactid' must be a Contact of the Company")
        project = self._row("projects", str(body["projectid"]))
        row: dict[str, Any] = {"companyid": company["id"], "contactid": contact["id"], "projectid": project["id"],
                               "status": "unpaid", "taxable": True}
        self._invoice_fields(row, body)
        number = body.get("number") or "auto"
        row["number"] = self._next_number("invoice") if number == "auto" else str(number)
        row["invoiceddate"] = row.get("invoiceddate") or self.today().isoformat()
        if not row.get("duedate"):
            row["duedate"] = (date.fromisoformat(row["invoiceddate"])
                              + timedelta(days=int(self.config["payment_days"]))).isoformat()
        new = self._insert("invoices", row)
        return _created([new], [row], "number", "Invoice Added")

    def _invoice_fields(self, row: dict[str, Any], body: Mapping[str, Any]) -> None:
        for name in ("title", "description", "number", "purchaseordernumber"):
            if name in body:
                if name in ("title", "number") and not body[name]:
                    raise _bad(f"'{name}' is a required field")
                row[name] = "" if body[name] is None else str(body[name])
        for name in ("invoiceddate", "duedate", "paiddate"):
            if name in body:
                row[name] = self._date(name, body[name])
        if "status" in body:
            if body["status"] not in ("paid", "unpaid"):
                raise _bad("'status' must be one of unpaid, paid")
            row["status"] = body["status"]
            if body["status"] == "paid" and not row.get("paiddate"):
                row["paiddate"] = self.today().isoformat()
            if body["status"] == "unpaid":
                row["paiddate"] = None
        if "taxable" in body:
            row["taxable"] = str(body["taxable"]).lower() == "true"
        if "taxrate" in body:
            row["taxrate"] = str(self._money(body["taxrate"], "taxrate"))
        if "lines" in body:  # replaces every line
            row["lines"] = self._lines(body["lines"])
        self._apifields_in("invoice", body.get("apifields"), row)

    def _lines(self, lines: Any) -> list[dict[str, Any]]:
        if not isinstance(lines, list) or not lines:
            raise _bad("'lines' must be a list of Lines")
        out = []
        for n, line in enumerate(lines, start=1):
            if not isinstance(line, Mapping) or line.get("type") not in LINE_TYPES:
                raise _bad(f"Line {n}: 'type' must be one of {', '.join(LINE_TYPES)}")
            kind = line["type"]
            need = {"heading": ("name",), "expense": ("name", "quantity", "rate"), "lineitem": ("quantity", "rate"),
                    "staffrate": ("name", "time", "rate"), "taskrate": ("name", "time", "rate")}[kind]
            missing = [k for k in need if line.get(k) in (None, "")]
            if kind == "lineitem" and not (line.get("name") or line.get("description")):
                missing.insert(0, "name")
            if missing:
                raise _bad(f"Line {n}: '{missing[0]}' must be provided for a {kind} line")
            row: dict[str, Any] = {"id": n, "type": kind, "name": str(line.get("name") or ""),
                                   "description": str(line.get("description") or ""), "displayorder": n}
            if kind != "heading":
                row["rate"] = str(self._money(line["rate"], "rate"))
                row["taxable"] = str(line.get("taxable", True)).lower() == "true"
                if kind in ("staffrate", "taskrate"):
                    row["time"] = int(self._money(line["time"], "time"))
                else:
                    row["quantity"] = str(self._money(line["quantity"], "quantity"))
            out.append(row)
        return out

    def put_invoice(self, ident: str, body: Any) -> dict[str, Any]:
        row = self._row("invoices", ident)
        if not isinstance(body, Mapping):
            raise _bad("Invalid data")
        changed = copy.deepcopy(row)
        self._invoice_fields(changed, body)
        row.update(changed)
        self._touch(row)
        return _updated(row["id"], "Invoice Updated")

    def delete_invoice(self, ident: str) -> dict[str, Any]:
        row = self._row("invoices", ident)
        del self.t["invoices"][row["id"]]
        return {"status": "Success", "message": "Invoice Deleted"}


_ALL = {"code", "name", "type", "email", "phone", "fax", "website", "address", "contacts", "lastmodified",
        "apifields", "title", "logindetails", "number", "description", "status", "priority", "dates", "company",
        "manager", "order", "billable", "project", "contact", "notes", "task", "timetracked", "totals", "taxable",
        "purchaseordernumber"}


def _fields(value: str | None, default: str) -> set[str]:
    text = default if value is None else value
    if text == "none":
        return set()
    return {f.strip() for f in text.split(",") if f.strip()}


def _name(row: Mapping[str, Any]) -> str:
    return " ".join(str(row.get(k)) for k in ("firstname", "lastname") if row.get(k))


def _value(row: Mapping[str, Any], column: str) -> Any:
    """A column, or a contact's full name for ``name``."""
    if column == "name" and "firstname" in row:
        return _name(row)
    return row.get(column)


def _utc(text: str) -> datetime:
    return datetime.strptime(text, STAMP).replace(tzinfo=timezone.utc)


def _sort_key(value: Any) -> tuple:
    if value in (None, ""):
        return (0, 0, "")
    try:
        return (1, float(value), "")
    except (TypeError, ValueError):
        return (1, 0, str(value).casefold())


def _clock(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        return time.fromisoformat(str(value).strip()).strftime("%H:%M")
    except ValueError:
        raise _bad(f"'{name}' must be a time in hh:mm format") from None


def _line_total(line: Mapping[str, Any]) -> Decimal:
    if line.get("type") == "heading":
        return Decimal(0)
    rate = Decimal(str(line.get("rate") or 0))
    if line.get("type") in ("staffrate", "taskrate"):
        return (Decimal(int(line.get("time") or 0)) / 60 * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return (Decimal(str(line.get("quantity") or 0)) * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _created(ids: list[int], rows: list[dict[str, Any]], label: str, message: str) -> dict[str, Any]:
    return {"details": [{"id": i, label: row.get(label)} for i, row in zip(ids, rows)], "message": message,
            "status": "Success"}


def _updated(ident: int, message: str) -> dict[str, Any]:
    return {"details": [{"id": ident}], "message": message, "status": "Success"}
