"""The sandbox's Blesta: in-memory state and the model methods the API exposes, behaving as Blesta's do.

Each public method here is one Blesta model method (``clients_getList`` is ``clients/getList``),
called with arguments already bound by name the way Blesta's API controller binds them (strings from
the form, PHP defaults for the rest). Validation failures raise :class:`Invalid` with Blesta's
``{field: {code: message}}`` map (the API answers 400). Quirks kept on purpose (FACTS.md §3):

* list defaults: invoices ``open`` only, services ``active`` only, clients all; tickets need a status;
* the Support Manager lists INNER JOIN the latest ``reply``, so a ticket without one is not listed
  (``get`` still finds it); replies come newest first;
* ``staff_id``/``client_id`` of the ticket lists are compared strictly against ``null``: an empty
  string filters everything out;
* booleans are PHP truthiness of strings (``"0"`` and ``""`` are false, ``"false"`` is true) except
  the arguments Blesta compares with ``'true'`` (``use_module``, ``notify_cancel``, ...);
* dates without a zone are company-local; everything is stored and answered in UTC.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

STAMP = "%Y-%m-%d %H:%M:%S"
INVOICE_STATUSES = ("active", "draft", "proforma", "void")
SERVICE_STATUSES = ("active", "canceled", "pending", "suspended", "in_review")
TICKET_STATUSES = ("open", "awaiting_reply", "in_progress", "on_hold", "closed", "trash")
TICKET_PRIORITIES = ("emergency", "critical", "high", "medium", "low")
CLIENT_STATUSES = ("active", "inactive", "fraud")
TABLES = ("client_groups", "currencies", "states", "packages", "staff", "departments", "users", "clients",
          "contacts", "numbers", "invoices", "transactions", "services", "tickets", "replies", "client_fields",
          "client_values")


class Invalid(Exception):
    """A Blesta model validation failure: the API answers 400 with ``errors``."""

    def __init__(self, errors: dict[str, dict[str, str]]) -> None:
        super().__init__("invalid")
        self.errors = errors


class Crash(Exception):
    """What PHP would die of (a TypeError, an SQL error): the API answers 500."""


def php_bool(value: Any) -> bool:
    """PHP truthiness of a form value."""
    return value not in (None, False, "", "0", 0, [], {})


def php_true_string(value: Any, default: bool) -> bool:
    """Arguments Blesta compares with the string ``'true'``."""
    if value is None:
        return default
    return value is True or str(value).lower() == "true"


def _money(value: Decimal) -> str:
    """An amount as Blesta answers it: a DECIMAL(19,4) column as PHP gets it from MySQL, a string
    with four decimals (``"13.4900"``), rounded to the cent as Blesta rounds totals."""
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):.4f}"


def _dec(value: Any, field: str, code: str = "format") -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid({field: {code: f"{field} must be a number."}}) from None
    if not number.is_finite():
        raise Invalid({field: {code: f"{field} must be a number."}})
    return number


def _s(value: Any) -> Any:
    """A stored value as MySQL hands it to PHP: numbers as strings, null as null."""
    if value is None or isinstance(value, (str, list, dict)):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _sorted(rows: list[dict[str, Any]], order_by: Any) -> list[dict[str, Any]]:
    """``ORDER BY`` the given ``{column: direction}`` pairs; an unknown column is an SQL error."""
    if order_by in (None, "", [], {}):
        return rows
    if not isinstance(order_by, dict):
        raise Crash("order_by must be an array")
    for column, direction in reversed(list(order_by.items())):
        if rows and column not in rows[0]:
            raise Crash(f"Unknown column '{column}' in 'order clause'")
        desc = str(direction).lower() == "desc"

        def key(row: dict[str, Any], column: str = column) -> tuple:
            value = row.get(column)
            if value is None:
                return (0, 0, "")
            text = str(value)
            try:
                return (1, float(text), "")
            except ValueError:
                return (1, 0, text.lower())
        rows = sorted(rows, key=key, reverse=desc)
    return rows


class Blesta:
    """The state of one emulated Blesta company and its API model methods."""

    page_size = 20

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.reset()

    # -- state ----------------------------------------------------------------------------------

    def reset(self) -> None:
        self.config: dict[str, Any] = {"company_id": 1, "timezone": "UTC", "tax_rate": None,
                                       "inv_start": 1000, "client_start": 1500, "empty_list": "[]"}
        self.t: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in TABLES if name not in ("currencies", "states")}
        self.currencies: list[str] = []
        self.states: list[dict[str, str]] = []
        self._code = 7000000
        self._forget_indexes()

    def _forget_indexes(self) -> None:
        """What the emulator keeps to answer in constant time, as a database's indexes do (filled
        again from the tables when first needed: tests may load or change tables directly)."""
        self._last_id: dict[str, int] = {}  # table -> the last id given (auto-increment)
        self._usernames: dict[str, int] | None = None
        self._values: dict[tuple[int, int], int] | None = None  # (field id, client id) -> client_values id
        self._last_id_value: int | None = None

    def load(self, data: Mapping[str, Any]) -> None:
        self.reset()
        self.config.update(data.get("config") or {})
        self.currencies = list(data.get("currencies") or [])
        self.states = [dict(s) for s in data.get("states") or []]
        for name in self.t:
            for row in data.get(name) or []:
                self.t[name][int(row["id"])] = _deep(row)
        self._code = max([self._code] + [int(t.get("code") or 0) for t in self.t["tickets"].values()])
        self._forget_indexes()

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"config": dict(self.config), "currencies": list(self.currencies),
                               "states": [dict(s) for s in self.states]}
        for name, table in self.t.items():
            out[name] = [_deep(table[i]) for i in sorted(table)]
        return out

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        rows = self.t[table]
        new = self._last_id.get(table, 0) + 1
        if table not in self._last_id or new in rows:  # first insert, or rows added behind our back
            new = max(rows, default=0) + 1
        self._last_id[table] = new
        row["id"] = new
        rows[new] = row
        if table == "users" and self._usernames is not None:
            self._usernames[row["username"]] = new
        if table == "client_values" and self._values is not None:
            self._values[(row["client_field_id"], row["client_id"])] = new
        return new

    def _username_taken(self, username: str) -> bool:
        if self._usernames is None or len(self._usernames) != len(self.t["users"]):
            self._usernames = {u["username"]: i for i, u in self.t["users"].items()}
        return username in self._usernames

    def _value_row(self, field_id: int, client_id: int) -> dict[str, Any] | None:
        values = self.t["client_values"]
        if self._values is None or len(self._values) != len(values):
            self._values = {(v["client_field_id"], v["client_id"]): i for i, v in values.items()}
        found = self._values.get((field_id, client_id))
        return values.get(found) if found is not None else None

    def _next_id_value(self) -> int:
        if self._last_id_value is None:
            self._last_id_value = max([int(self.config["client_start"]) - 1] +
                                      [c["id_value"] for c in self.t["clients"].values()])
        self._last_id_value += 1
        return self._last_id_value

    def now(self) -> datetime:
        return self._now().astimezone(timezone.utc).replace(microsecond=0)

    def stamp(self) -> str:
        return self.now().strftime(STAMP)

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.get("timezone") or "UTC")

    def when(self, value: Any, field: str) -> str | None:
        """An API timestamp as stored UTC: zoned forms as given, bare ones in the company's zone."""
        if value in (None, ""):
            return None
        text = str(value).strip()
        zone: Any = None
        if text.endswith(" UTC"):
            text, zone = text[:-4], timezone.utc
        elif text.endswith(("Z", "z")):
            text, zone = text[:-1], timezone.utc
        match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2})?))?\s*([+-]\d{2}:?\d{2})?", text)
        if not match:
            raise Invalid({field: {"format": f"{field} is not a valid date."}})
        day, clock, offset = match.groups()
        try:
            moment = datetime.fromisoformat(f"{day} {clock or '00:00:00'}")
        except ValueError:
            raise Invalid({field: {"format": f"{field} is not a valid date."}}) from None
        if offset:
            sign = 1 if offset[0] == "+" else -1
            digits = offset[1:].replace(":", "")
            zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        moment = moment.replace(tzinfo=zone or self.tz())
        return moment.astimezone(timezone.utc).strftime(STAMP)

    def empty(self, rows: list[Any]) -> Any:
        """An empty list the way this Blesta answers it (``[]``, ``false`` or ``null``)."""
        if rows:
            return rows
        return {"[]": [], "false": False, "null": None}.get(str(self.config.get("empty_list")), [])

    def page(self, rows: list[dict[str, Any]], page: Any) -> list[dict[str, Any]]:
        try:
            number = max(1, int(str(page).strip() or 1))
        except ValueError:
            number = 1
        start = (number - 1) * self.page_size
        return rows[start:start + self.page_size]

    # -- clients --------------------------------------------------------------------------------

    def _client_row(self, client: dict[str, Any], settings: bool = False) -> dict[str, Any]:
        contact = self.t["contacts"].get(client["contact_id"], {})
        group = self.t["client_groups"].get(client["client_group_id"], {})
        user = self.t["users"].get(client["user_id"], {})
        row = {
            "id": _s(client["id"]), "id_format": "{num}", "id_value": _s(client["id_value"]),
            "id_code": _s(client["id_value"]), "user_id": _s(client["user_id"]),
            "client_group_id": _s(client["client_group_id"]), "status": client["status"],
            "contact_id": _s(client["contact_id"]), "username": user.get("username"),
            **{k: contact.get(k) for k in ("first_name", "last_name", "title", "company", "email", "address1",
                                           "address2", "city", "state", "zip", "country")},
            "group_name": group.get("name"), "company_id": _s(group.get("company_id")),
            "date_added": contact.get("date_added"),
        }
        if settings:
            row["settings"] = dict(client.get("settings") or {})
        return row

    def _clients(self, status: Any, filters: Any) -> list[dict[str, Any]]:
        filters = filters if isinstance(filters, dict) else {}
        rows = []
        email = str(filters.get("contact_email") or "").lower()
        contacts = self.t["contacts"]
        for client in self.t["clients"].values():
            if status not in (None, "") and client["status"] != status:
                continue
            if email and email not in (contacts.get(client["contact_id"], {}).get("email") or "").lower():
                continue  # (the same test as below, before the row is built: as quick as an index)
            row = self._client_row(client)
            if filters.get("company_id") not in (None, "") and row["company_id"] != str(filters["company_id"]):
                continue
            if filters.get("contact_email") and str(filters["contact_email"]).lower() not in (row["email"] or "").lower():
                continue
            if filters.get("contact_name"):
                name = f"{row['first_name']} {row['last_name']}".lower()
                if str(filters["contact_name"]).lower() not in name:
                    continue
            if filters.get("contact_company") and str(filters["contact_company"]).lower() not in (row["company"] or "").lower():
                continue
            if filters.get("contact_country") and row["country"] != filters["contact_country"]:
                continue
            if filters.get("client_group_id") and row["client_group_id"] != str(filters["client_group_id"]):
                continue
            rows.append(row)
        return rows

    def clients_getList(self, status, page, order_by, filters):
        return self.empty(self.page(_sorted(self._clients(status, filters), order_by), page))

    def clients_getListCount(self, status, filters):
        return len(self._clients(status, filters))

    def clients_get(self, client_id, get_settings):
        client = self.t["clients"].get(_int(client_id))
        return self._client_row(client, php_bool(get_settings)) if client else False

    def _check_contact(self, vars: dict[str, Any], errors: dict[str, dict[str, str]], *, creating: bool) -> None:
        for field, label in (("first_name", "first name"), ("last_name", "last name")):
            if (creating or field in vars) and not str(vars.get(field) or "").strip():
                errors[field] = {"empty": f"Please enter a {label}."}
        if creating or "email" in vars:
            email = str(vars.get("email") or "")
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                errors["email"] = {"format": "Please enter a valid email address."}
        country = vars.get("country")
        if country not in (None, "") and not re.fullmatch(r"[A-Z]{2}", str(country)):
            errors["country"] = {"valid": "Please select a valid country."}
        state = vars.get("state")
        if state not in (None, ""):
            if len(str(state)) > 3:
                errors["state"] = {"length": "State may be at most 3 characters in length."}
            elif country in (None, ""):
                errors["country"] = {"empty": "A country is required when a state is given."}
            elif not any(s["country_alpha2"] == country and s["code"] == state for s in self.states):
                errors["state"] = {"valid": "Please select a valid state."}

    def clients_create(self, vars):
        vars = _array(vars, "vars")
        errors: dict[str, dict[str, str]] = {}
        username = str(vars.get("username") or "")
        if not username:
            errors["username"] = {"empty": "Please enter a username."}
        elif self._username_taken(username):
            errors["username"] = {"unique": "That username has already been taken."}
        password = str(vars.get("new_password") or "")
        if len(password) < 6:
            errors["new_password"] = {"format": "Password must be at least 6 characters in length."}
        elif password != vars.get("confirm_password"):
            errors["confirm_password"] = {"matches": "The passwords do not match."}
        if _int(vars.get("client_group_id")) not in self.t["client_groups"]:
            errors["client_group_id"] = {"exists": "Please select a valid client group."}
        status = vars.get("status") or "active"
        if status not in CLIENT_STATUSES:
            errors["status"] = {"format": "Invalid status."}
        settings = vars.get("settings") if isinstance(vars.get("settings"), dict) else {}
        currency = settings.get("default_currency")
        if currency and currency not in self.currencies:
            errors["default_currency"] = {"exists": "Please select a valid currency."}
        self._check_contact(vars, errors, creating=True)
        if errors:
            raise Invalid(errors)
        now = self.stamp()
        user = self._insert("users", {"username": username, "password": hashlib.sha256(password.encode()).hexdigest(),
                                      "date_added": now})
        next_value = self._next_id_value()
        client = self._insert("clients", {"id_value": next_value, "user_id": user,
                                          "client_group_id": _int(vars["client_group_id"]), "status": status,
                                          "contact_id": 0, "settings": {k: v for k, v in settings.items()
                                                                        if isinstance(v, str)}})
        contact = self._insert("contacts", {"client_id": client, "contact_type": "primary", "date_added": now,
                                            **_contact_fields(vars)})
        self.t["clients"][client]["contact_id"] = contact
        for number in vars.get("numbers") or []:
            if isinstance(number, dict) and number.get("number"):
                self._insert("numbers", {"contact_id": contact, "number": number["number"],
                                         "type": number.get("type") or "phone",
                                         "location": number.get("location") or "home"})
        custom = vars.get("custom") if isinstance(vars.get("custom"), dict) else {}
        for field_id, value in custom.items():  # fields of the client's group; others are ignored
            field = self.t["client_fields"].get(_int(field_id))
            if field and _int(field["client_group_id"]) == _int(vars["client_group_id"]):
                self.clients_setCustomField(field_id, client, value)
        return self._client_row(self.t["clients"][client])

    def _field_row(self, field: dict[str, Any]) -> dict[str, Any]:
        return {k: _s(v) for k, v in field.items()}

    def clients_getCustomFields(self, company_id, client_group_id, options):
        groups = {i for i, g in self.t["client_groups"].items() if str(g.get("company_id")) == str(company_id)}
        return [self._field_row(f) for f in self.t["client_fields"].values() if _int(f["client_group_id"]) in groups
                and (client_group_id in (None, "") or _int(f["client_group_id"]) == _int(client_group_id))]

    def clients_getCustomFieldValues(self, client_id):
        """The client's custom field values: each field's row with ``client_id`` and ``value``."""
        rows = [{**self._field_row(self.t["client_fields"][v["client_field_id"]]), "client_id": _s(v["client_id"]),
                 "value": v["value"]} for v in self.t["client_values"].values()
                if _int(v["client_id"]) == _int(client_id) and v["client_field_id"] in self.t["client_fields"]]
        return self.empty(rows)

    def clients_setCustomField(self, field_id, client_id, value):
        if _int(field_id) not in self.t["client_fields"] or _int(client_id) not in self.t["clients"]:
            raise Invalid({"client_field_id": {"exists": "Invalid client field ID."}})
        row = self._value_row(_int(field_id), _int(client_id))
        if row is not None:
            row["value"] = str(value)
            return None
        self._insert("client_values", {"client_field_id": _int(field_id), "client_id": _int(client_id),
                                       "value": str(value)})
        return None

    def clients_edit(self, client_id, vars):
        vars = _array(vars, "vars")
        client = self.t["clients"].get(_int(client_id))
        if client is None:
            raise Invalid({"client_id": {"exists": "Invalid client ID."}})
        if "status" in vars and vars["status"] not in CLIENT_STATUSES:
            raise Invalid({"status": {"format": "Invalid status."}})
        if "client_group_id" in vars and _int(vars["client_group_id"]) not in self.t["client_groups"]:
            raise Invalid({"client_group_id": {"exists": "Please select a valid client group."}})
        for field in ("status",):
            if field in vars:
                client[field] = vars[field]
        if "client_group_id" in vars:
            client["client_group_id"] = _int(vars["client_group_id"])
        return self._client_row(client)

    def client_groups_get(self, client_group_id):
        group = self.t["client_groups"].get(_int(client_group_id))
        return {k: _s(v) for k, v in group.items()} if group else False

    # -- contacts -------------------------------------------------------------------------------

    def _contact_row(self, contact: dict[str, Any]) -> dict[str, Any]:
        return {k: _s(v) for k, v in contact.items()}

    def contacts_get(self, contact_id):
        contact = self.t["contacts"].get(_int(contact_id))
        return self._contact_row(contact) if contact else False

    def contacts_edit(self, contact_id, vars):
        vars = _array(vars, "vars")
        contact = self.t["contacts"].get(_int(contact_id))
        if contact is None:
            raise Invalid({"contact_id": {"exists": "Invalid contact ID."}})
        merged = {**contact, **vars}
        errors: dict[str, dict[str, str]] = {}
        self._check_contact({k: merged.get(k) for k in vars} | {"country": merged.get("country")}
                            if "state" in vars else vars, errors, creating=False)
        if errors:
            raise Invalid(errors)
        contact.update(_contact_fields(vars, only_given=True))
        for number in vars.get("numbers") or []:
            if not isinstance(number, dict):
                continue
            existing = self.t["numbers"].get(_int(number.get("id")))
            if existing is not None and existing["contact_id"] == contact["id"]:
                if not number.get("number"):
                    del self.t["numbers"][existing["id"]]
                else:
                    existing.update({k: number[k] for k in ("number", "type", "location") if number.get(k)})
            elif number.get("number"):
                self._insert("numbers", {"contact_id": contact["id"], "number": number["number"],
                                         "type": number.get("type") or "phone",
                                         "location": number.get("location") or "home"})
        return self._contact_row(contact)

    def contacts_getNumbers(self, contact_id, type, location, order):
        rank = {"work": 0, "home": 1, "mobile": 2}
        rows = [n for n in self.t["numbers"].values() if n["contact_id"] == _int(contact_id)
                and (type is None or n["type"] == type) and (location is None or n["location"] == location)]
        rows.sort(key=lambda n: (rank.get(n["location"], 3), n["id"]))
        return self.empty([{k: _s(v) for k, v in n.items()} for n in rows])

    def states_getList(self, country, order_by):
        rows = [dict(s) for s in self.states if country in (None, "") or s["country_alpha2"] == country]
        return self.empty(_sorted(rows, order_by))

    # -- invoices -------------------------------------------------------------------------------

    def _totals(self, invoice: dict[str, Any]) -> dict[str, Decimal]:
        rate = self.config.get("tax_rate")
        subtotal = tax = Decimal(0)
        for line in invoice["lines"]:
            amount = Decimal(str(line["qty"])) * Decimal(str(line["amount"]))
            subtotal += amount
            if rate is not None and line.get("tax"):
                tax += amount * Decimal(str(rate)) / 100
        total = (subtotal + tax).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        paid = sum((Decimal(str(a["amount"])) for t in self.t["transactions"].values() if t["status"] == "approved"
                    for a in t["applied"] if a["invoice_id"] == invoice["id"]), Decimal(0))
        return {"subtotal": subtotal, "tax": tax, "total": total, "paid": paid, "due": total - paid}

    def _set_closed(self, invoice: dict[str, Any]) -> None:
        """``Invoices::setClosed``: close an active invoice paid in full (a zero total included),
        reopen one that is not."""
        totals = self._totals(invoice)
        if invoice["status"] == "active" and totals["due"] <= 0:
            invoice["date_closed"] = invoice.get("date_closed") or self.stamp()
        else:
            invoice["date_closed"] = None

    def _invoice_code(self, invoice: dict[str, Any]) -> str:
        return f"DRAFT-{invoice['id']}" if invoice["id_value"] is None else str(invoice["id_value"])

    def _invoice_row(self, invoice: dict[str, Any], lines: bool) -> dict[str, Any]:
        totals = self._totals(invoice)
        row = {k: _s(v) for k, v in invoice.items() if k not in ("lines", "delivery")}
        row.update({"id_format": "{num}", "id_code": self._invoice_code(invoice),
                    "subtotal": _money(totals["subtotal"]), "total": _money(totals["total"]),
                    "paid": _money(totals["paid"]), "due": _money(totals["due"]),
                    "previous_due": "0.0000"})
        if lines:
            rate = self.config.get("tax_rate")
            row["line_items"] = [{
                "id": _s(line["id"]), "invoice_id": _s(invoice["id"]), "service_id": _s(line.get("service_id")),
                "description": line["description"], "qty": f"{Decimal(str(line['qty'])):.4f}",
                "amount": f"{Decimal(str(line['amount'])):.4f}", "order": _s(line["order"]),
                "taxes": ([{"id": "1", "level": "1", "name": "VAT", "amount": f"{Decimal(str(rate)):.4f}",
                            "type": "exclusive"}] if rate is not None and line.get("tax") else []),
                "subtotal": _money(Decimal(str(line["qty"])) * Decimal(str(line["amount"]))),
            } for line in sorted(invoice["lines"], key=lambda line: (line["order"], line["id"]))]
            row["delivery"] = [{"method": m} for m in invoice.get("delivery") or []]
            row["taxes"] = []
        return row

    def _invoices(self, client_id: Any, status: Any, filters: Any) -> list[dict[str, Any]]:
        filters = filters if isinstance(filters, dict) else {}
        now = self.stamp()
        out = []
        for invoice in self.t["invoices"].values():
            if client_id not in (None, "") and str(invoice["client_id"]) != str(client_id):
                continue
            open_ = invoice["status"] == "active" and not invoice.get("date_closed")
            keep = {
                "all": True, "open": open_, "closed": invoice["status"] == "active" and bool(invoice.get("date_closed")),
                "past_due": open_ and (invoice["date_due"] or "") < now, "draft": invoice["status"] == "draft",
                "void": invoice["status"] == "void", "active": invoice["status"] == "active",
                "proforma": invoice["status"] == "proforma",
            }.get(str(status), False)
            if not keep:
                continue
            if filters.get("invoice_number") and str(filters["invoice_number"]) != self._invoice_code(invoice):
                continue
            if filters.get("currency") and invoice["currency"] != filters["currency"]:
                continue
            if filters.get("invoice_line") and not any(str(filters["invoice_line"]).lower() in l["description"].lower()
                                                       for l in invoice["lines"]):
                continue
            out.append(self._invoice_row(invoice, lines=False))
        return out

    def invoices_getList(self, client_id, status, page, order_by, filters):
        return self.empty(self.page(_sorted(self._invoices(client_id, status, filters), order_by), page))

    def invoices_getListCount(self, client_id, status, filters):
        return len(self._invoices(client_id, status, filters))

    def invoices_get(self, invoice_id, use_cache):
        invoice = self.t["invoices"].get(_int(invoice_id))
        return self._invoice_row(invoice, lines=True) if invoice else False

    def _line(self, line: Mapping[str, Any], index: int, errors: dict[str, dict[str, str]]) -> dict[str, Any]:
        qty = line.get("qty")
        qty = _dec(1 if qty in (None, "") else qty, f"lines[{index}][qty]")
        if qty <= 0:
            errors[f"lines[{index}][qty]"] = {"minimum": "Quantity must be greater than zero."}
        amount = _dec(line.get("amount") or 0, f"lines[{index}][amount]")
        if not str(line.get("description") or "").strip():
            errors[f"lines[{index}][description]"] = {"empty": "Please enter a line item description."}
        return {"service_id": _int(line.get("service_id")) or None, "description": str(line.get("description") or ""),
                "qty": str(qty), "amount": str(amount), "tax": php_bool(line.get("tax"))}

    def _invoice_fields(self, vars: dict[str, Any], invoice: dict[str, Any] | None) -> dict[str, Any]:
        errors: dict[str, dict[str, str]] = {}
        out: dict[str, Any] = {}
        if invoice is None or "client_id" in vars:
            if _int(vars.get("client_id")) not in self.t["clients"]:
                errors["client_id"] = {"exists": "Invalid client ID."}
            out["client_id"] = _int(vars.get("client_id"))
        for field in ("date_billed", "date_due"):
            if invoice is None or field in vars:
                if not vars.get(field):
                    errors[field] = {"format": f"Please enter a valid {field.replace('_', ' ')}."}
                else:
                    try:
                        out[field] = self.when(vars[field], field)
                    except Invalid as exc:
                        errors.update(exc.errors)
        billed = out.get("date_billed") or (invoice or {}).get("date_billed")
        due = out.get("date_due") or (invoice or {}).get("date_due")
        if billed and due and due < billed and "date_due" not in errors:
            errors["date_due"] = {"after_billed": "The date due must be on or after the date billed."}
        if invoice is None or "status" in vars:
            status = vars.get("status") or "active"
            if status not in INVOICE_STATUSES:
                errors["status"] = {"format": "Invalid status."}
            out["status"] = status
        if invoice is None or "currency" in vars:
            if vars.get("currency") not in self.currencies:
                errors["currency"] = {"exists": "Invalid currency code."}
            out["currency"] = vars.get("currency")
        for field in ("note_public", "note_private"):
            if field in vars:
                out[field] = str(vars[field] or "")
        if "delivery" in vars:
            out["delivery"] = [str(d) for d in (vars["delivery"] if isinstance(vars["delivery"], list) else [])]
        lines = vars.get("lines")
        if lines is not None and not isinstance(lines, list):
            raise Crash("lines must be an array")
        out["_lines"] = []
        for index, line in enumerate(lines or []):
            if not isinstance(line, dict):
                raise Crash("line must be an array")
            if line.get("id") not in (None, ""):
                current = next((l for l in (invoice or {}).get("lines", []) if l["id"] == _int(line["id"])), None)
                if current is None:
                    errors[f"lines[{index}][id]"] = {"exists": "Invalid line item ID."}
                    continue
                if str(line.get("description", "x")) == "" and str(line.get("amount", "x")) == "":
                    out["_lines"].append(("delete", current, None))
                    continue
                merged = {"qty": current["qty"], "amount": current["amount"], "tax": current["tax"],
                          "description": current["description"], **line}
                out["_lines"].append(("update", current, self._line(merged, index, errors)))
            else:
                out["_lines"].append(("add", None, self._line(line, index, errors)))
        if errors:
            raise Invalid(errors)
        return out

    def _apply_lines(self, invoice: dict[str, Any], changes: list[tuple[str, Any, Any]]) -> None:
        for action, current, line in changes:
            if action == "delete":
                invoice["lines"].remove(current)
            elif action == "update":
                current.update(line)
            else:
                line["id"] = max([0] + [l["id"] for i in self.t["invoices"].values() for l in i["lines"]]) + 1
                line["order"] = max([-1] + [l["order"] for l in invoice["lines"]]) + 1
                invoice["lines"].append(line)

    def _number(self, invoice: dict[str, Any]) -> None:
        if invoice["id_value"] is None and invoice["status"] != "draft":
            invoice["id_value"] = max([int(self.config["inv_start"]) - 1] + [
                i["id_value"] for i in self.t["invoices"].values() if i["id_value"] is not None]) + 1

    def invoices_add(self, vars):
        vars = _array(vars, "vars")
        fields = self._invoice_fields(vars, None)
        changes = fields.pop("_lines")
        invoice = {"id_value": None, "date_closed": None, "date_autodebit": None, "note_public": "",
                   "note_private": "", "delivery": [], "lines": [], **fields}
        new = self._insert("invoices", invoice)
        self._apply_lines(invoice, changes)
        self._number(invoice)
        self._set_closed(invoice)
        return _s(new)  # PDO's lastInsertId(): a string

    def invoices_edit(self, invoice_id, vars):
        vars = _array(vars, "vars")
        invoice = self.t["invoices"].get(_int(invoice_id))
        if invoice is None:
            raise Invalid({"invoice_id": {"exists": "Invalid invoice ID."}})
        fields = self._invoice_fields(vars, invoice)
        changes = fields.pop("_lines")
        invoice.update(fields)
        self._apply_lines(invoice, changes)
        self._number(invoice)
        self._set_closed(invoice)
        return invoice["id"]

    def invoices_deleteDraft(self, invoice_id):
        invoice = self.t["invoices"].get(_int(invoice_id))
        if invoice is None or invoice["status"] != "draft":
            raise Invalid({"invoice_id": {"draft": "Only draft invoices may be deleted."}})
        del self.t["invoices"][invoice["id"]]
        return None

    # -- transactions ---------------------------------------------------------------------------

    def _transaction_row(self, transaction: dict[str, Any]) -> dict[str, Any]:
        applied = sum((Decimal(str(a["amount"])) for a in transaction["applied"]), Decimal(0))
        row = {k: _s(v) for k, v in transaction.items() if k != "applied"}
        row["credited_amount"] = f"{Decimal(str(transaction['amount'])) - applied:.4f}"
        row["applied_amount"] = f"{applied:.4f}"
        return row

    def transactions_add(self, vars):
        vars = _array(vars, "vars")
        errors: dict[str, dict[str, str]] = {}
        if _int(vars.get("client_id")) not in self.t["clients"]:
            errors["client_id"] = {"exists": "Invalid client ID."}
        try:
            amount = _dec(vars.get("amount"), "amount")
        except Invalid as exc:
            errors.update(exc.errors)
            amount = Decimal(0)
        if vars.get("currency") not in self.currencies:
            errors["currency"] = {"exists": "Invalid currency code."}
        if vars.get("type") not in ("cc", "ach", "other"):
            errors["type"] = {"format": "Invalid transaction type."}
        status = vars.get("status") or "approved"
        if errors:
            raise Invalid(errors)
        return _s(self._insert("transactions", {
            "client_id": _int(vars["client_id"]), "amount": str(amount), "currency": vars["currency"],
            "type": vars["type"], "status": status, "transaction_id": vars.get("transaction_id") or None,
            "date_added": self.when(vars.get("date_added"), "date_added") or self.stamp(), "applied": []}))

    def transactions_getList(self, client_id, status, page, order_by, filters):
        filters = filters if isinstance(filters, dict) else {}
        rows = [self._transaction_row(t) for t in self.t["transactions"].values()
                if (client_id in (None, "") or str(t["client_id"]) == str(client_id))
                and (status == "all" or t["status"] == status)
                and (not filters.get("transaction_id") or t["transaction_id"] == filters["transaction_id"])]
        return self.empty(self.page(_sorted(rows, order_by), page))

    def transactions_apply(self, transaction_id, vars):
        vars = _array(vars, "vars")
        transaction = self.t["transactions"].get(_int(transaction_id))
        if transaction is None:
            raise Invalid({"transaction_id": {"exists": "Invalid transaction ID."}})
        amounts = vars.get("amounts") if isinstance(vars.get("amounts"), list) else []
        credit = Decimal(self._transaction_row(transaction)["credited_amount"])
        total = Decimal(0)
        for index, item in enumerate(amounts):
            invoice = self.t["invoices"].get(_int(item.get("invoice_id")))
            if invoice is None or invoice["status"] not in ("active", "proforma"):
                raise Invalid({"amounts": {"invoice_id": "Invalid invoice ID."}})
            if invoice["currency"] != transaction["currency"]:
                raise Invalid({"amounts": {"currency": "The invoice currency must match the transaction's."}})
            total += _dec(item.get("amount"), f"amounts[{index}][amount]")
        if not amounts or total > credit:
            raise Invalid({"amounts": {"overage": "The amount applied exceeds the transaction's credit."}})
        for item in amounts:
            transaction["applied"].append({"invoice_id": _int(item["invoice_id"]), "amount": str(item["amount"])})
            self._set_closed(self.t["invoices"][_int(item["invoice_id"])])
        return None

    # -- services (domains) ---------------------------------------------------------------------

    def _pricing(self, pricing_id: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for package in self.t["packages"].values():
            for pricing in package.get("pricing") or []:
                if pricing["id"] == _int(pricing_id):
                    return package, pricing
        return None

    def _service_row(self, service: dict[str, Any]) -> dict[str, Any]:
        package, pricing = self._pricing(service["pricing_id"]) or ({}, {})
        row = {k: _s(v) for k, v in service.items() if k != "fields"}
        row.update({
            "id_format": "{num}", "id_value": _s(service["id"]), "id_code": _s(service["id"]),
            "package_id": _s(package.get("id")), "package": {"id": _s(package.get("id")), "name": package.get("name"),
                                                             "module_id": _s(package.get("module_id"))},
            "package_pricing": {k: _s(v) for k, v in pricing.items()},
            "fields": [{"key": f["key"], "value": f["value"], "serialized": "0", "encrypted": "0"}
                       for f in service.get("fields") or []],
        })
        return row

    def _services(self, client_id: Any, status: Any, package_id: Any, filters: Any) -> list[dict[str, Any]]:
        filters = filters if isinstance(filters, dict) else {}
        wanted = SERVICE_STATUSES if status == "all" else (status,)
        out = []
        for service in self.t["services"].values():
            package = (self._pricing(service["pricing_id"]) or ({}, {}))[0]
            kind = "domains" if package.get("type") == "domain" else "services"
            client = filters.get("client_id", client_id)
            if client not in (None, "") and str(service["client_id"]) != str(client):
                continue
            if service["status"] not in wanted:
                continue
            if package_id not in (None, "") and str(package.get("id")) != str(package_id):
                continue
            if filters.get("type") in ("domains", "services") and filters["type"] != kind:
                continue
            meta = filters.get("service_meta")
            if meta and not any(str(meta).lower() in str(f["value"]).lower() for f in service.get("fields") or []):
                continue
            out.append(self._service_row(service))
        return out

    def services_getList(self, client_id, status, page, order_by, children, filters, formatted_filters):
        return self.empty(self.page(_sorted(self._services(client_id, status, None, filters), order_by), page))

    def services_getListCount(self, client_id, status, children, package_id, filters, formatted_filters):
        return len(self._services(client_id, status, package_id, filters))

    def services_get(self, service_id):
        service = self.t["services"].get(_int(service_id))
        return self._service_row(service) if service else False

    def _module_guard(self, vars: Mapping[str, Any], status: str, bypass: bool = False) -> None:
        if not bypass and status not in ("pending", "in_review") and php_true_string(vars.get("use_module"), True):
            raise Invalid({"module": {"connection": "The registrar could not be reached (the sandbox has no "
                                                    "registrar; send use_module=false)."}})

    def services_add(self, vars, packages, notify):
        vars = _array(vars, "vars")
        errors: dict[str, dict[str, str]] = {}
        found = self._pricing(vars.get("pricing_id"))
        if found is None:
            errors["pricing_id"] = {"exists": "Invalid package pricing ID."}
        if _int(vars.get("client_id")) not in self.t["clients"]:
            errors["client_id"] = {"exists": "Invalid client ID."}
        status = vars.get("status") or "pending"
        if status not in SERVICE_STATUSES:
            errors["status"] = {"format": "Invalid status."}
        fields = []
        if found and found[0].get("type") == "domain":
            if not str(vars.get("domain") or "").strip():
                errors["domain"] = {"empty": "Please enter a domain name."}
            fields = [{"key": "domain", "value": str(vars.get("domain") or "").strip().lower()}]
        dates = {}
        for field in ("date_added", "date_renews"):
            try:
                dates[field] = self.when(vars.get(field), field)
            except Invalid as exc:
                errors.update(exc.errors)
        if errors:
            raise Invalid(errors)
        self._module_guard(vars, status)
        added = dates["date_added"] or self.stamp()
        renews = dates["date_renews"] or _plus_term(added, found[1] if found else {})
        return _s(self._insert("services", {
            "parent_service_id": None, "pricing_id": _int(vars["pricing_id"]), "client_id": _int(vars["client_id"]),
            "qty": _int(vars.get("qty")) or 1, "status": status, "date_added": added, "date_renews": renews,
            "date_suspended": None, "date_canceled": None, "fields": fields}))

    def _service(self, service_id: Any) -> dict[str, Any]:
        service = self.t["services"].get(_int(service_id))
        if service is None:
            raise Invalid({"service_id": {"exists": "Invalid service ID."}})
        return service

    def services_edit(self, service_id, vars, bypass_module, notify):
        vars = _array(vars, "vars")
        service = self._service(service_id)
        errors: dict[str, dict[str, str]] = {}
        updates: dict[str, Any] = {}
        for field in ("date_added", "date_renews", "date_suspended", "date_canceled"):
            if field in vars:
                try:
                    updates[field] = self.when(vars[field], field)
                except Invalid as exc:
                    errors.update(exc.errors)
        if "status" in vars:
            if vars["status"] not in SERVICE_STATUSES:
                errors["status"] = {"format": "Invalid status."}
            updates["status"] = vars["status"]
        if "client_id" in vars:
            if _int(vars["client_id"]) not in self.t["clients"]:
                errors["client_id"] = {"exists": "Invalid client ID."}
            updates["client_id"] = _int(vars["client_id"])
        if errors:
            raise Invalid(errors)
        self._module_guard(vars, updates.get("status", service["status"]), php_bool(bypass_module))
        service.update(updates)
        return service["id"]

    def services_editField(self, service_id, vars):
        vars = _array(vars, "vars")
        service = self._service(service_id)
        if not vars.get("key"):
            raise Invalid({"key": {"empty": "Please enter a key."}})
        for field in service["fields"]:
            if field["key"] == vars["key"]:
                field["value"] = vars.get("value") or ""
                return None
        service["fields"].append({"key": vars["key"], "value": vars.get("value") or ""})
        return None

    def services_suspend(self, service_id, vars):
        service = self._service(service_id)
        if service["status"] != "active":
            raise Invalid({"status": {"active": "Only active services may be suspended."}})
        self._module_guard(_array(vars, "vars"), "active")
        service.update(status="suspended", date_suspended=self.stamp())
        return None

    def services_unsuspend(self, service_id, vars):
        service = self._service(service_id)
        if service["status"] != "suspended":
            raise Invalid({"status": {"suspended": "Only suspended services may be unsuspended."}})
        self._module_guard(_array(vars, "vars"), "active")
        service.update(status="active", date_suspended=None)
        return None

    def services_cancel(self, service_id, vars):
        vars = _array(vars, "vars")
        service = self._service(service_id)
        if service["status"] == "canceled":
            raise Invalid({"status": {"canceled": "The service is already canceled."}})
        when = vars.get("date_canceled")
        if when == "end_of_term":
            service["date_canceled"] = service["date_renews"]
            return None
        stamp = self.when(when, "date_canceled") or self.stamp()
        self._module_guard(vars, "active")
        if stamp > self.stamp():
            service["date_canceled"] = stamp
        else:
            service.update(status="canceled", date_canceled=stamp)
        return None

    def services_unCancel(self, service_id, vars):
        service = self._service(service_id)
        if service["status"] != "canceled" and not service.get("date_canceled"):
            raise Invalid({"status": {"canceled": "The service is not canceled."}})
        self._module_guard(_array(vars, "vars"), "active")
        service.update(status="active", date_canceled=None)
        return None

    # -- support manager tickets ----------------------------------------------------------------

    def _ticket_row(self, ticket: dict[str, Any], replies: bool) -> dict[str, Any]:
        department = self.t["departments"].get(ticket["department_id"], {})
        own = [r for r in self.t["replies"].values() if r["ticket_id"] == ticket["id"]]
        last = max((r for r in own if r["type"] == "reply"), key=lambda r: (r["date_added"], r["id"]), default=None)
        client = self.t["clients"].get(ticket.get("client_id") or 0)
        contact = self.t["contacts"].get(client["contact_id"]) if client else None
        row = {k: _s(v) for k, v in ticket.items()}
        row.update({
            "department_name": department.get("name"), "company_id": _s(department.get("company_id")),
            "last_reply_date": last["date_added"] if last else None,
            "last_reply_by": self._reply_by(last) if last else None,
            "contact_first_name": contact.get("first_name") if contact else None,
            "contact_last_name": contact.get("last_name") if contact else None,
        })
        if replies:
            own.sort(key=lambda r: (r["date_added"], r["id"]), reverse=True)  # newest first, as Blesta does
            row["replies"] = [self._reply_row(r, ticket) for r in own]
        return row

    def _reply_by(self, reply: dict[str, Any]) -> str:
        if reply.get("staff_id"):
            return "staff"
        if reply.get("client_id") or reply.get("contact_id"):
            return "client"
        return "email" if reply["type"] == "reply" else "system"

    def _reply_row(self, reply: dict[str, Any], ticket: dict[str, Any]) -> dict[str, Any]:
        who: dict[str, Any] = {}
        if reply.get("staff_id"):
            who = self.t["staff"].get(reply["staff_id"], {})
        elif reply.get("client_id"):
            client = self.t["clients"].get(reply["client_id"])
            who = self.t["contacts"].get(client["contact_id"], {}) if client else {}
        elif reply.get("contact_id"):
            who = self.t["contacts"].get(reply["contact_id"], {})
        row = {k: _s(v) for k, v in reply.items()}
        row.update({"first_name": who.get("first_name"), "last_name": who.get("last_name"),
                    "email": who.get("email") or (ticket.get("email") if reply["type"] == "reply" else None),
                    "reply_by": self._reply_by(reply), "attachments": []})
        return row

    def _tickets(self, status: Any, staff_id: Any, client_id: Any, filters: Any) -> list[dict[str, Any]]:
        filters = filters if isinstance(filters, dict) else {}
        replied = {r["ticket_id"] for r in self.t["replies"].values() if r["type"] == "reply"}
        company = str(self.config["company_id"])
        out = []
        for ticket in self.t["tickets"].values():
            if ticket["id"] not in replied:  # INNER JOIN on the latest reply
                continue
            department = self.t["departments"].get(ticket["department_id"], {})
            if str(department.get("company_id")) != company:
                continue
            if status == "not_closed":
                if ticket["status"] in ("closed", "trash"):
                    continue
            elif status not in (None, "") and ticket["status"] != status:
                continue
            if staff_id is not None:
                staff = self.t["staff"].get(_int(staff_id))
                if staff is None or ticket["department_id"] not in staff.get("departments", []):
                    continue
            if client_id is not None and str(ticket.get("client_id")) != str(client_id):
                continue
            if filters.get("ticket_number") and str(ticket["code"]) != str(filters["ticket_number"]):
                continue
            if filters.get("priority") and ticket["priority"] != filters["priority"]:
                continue
            if filters.get("department_id") and str(ticket["department_id"]) != str(filters["department_id"]):
                continue
            if filters.get("summary") and str(filters["summary"]).lower() not in ticket["summary"].lower():
                continue
            out.append(ticket)
        return out

    def support_manager_tickets_getList(self, status, staff_id, client_id, page, order_by, get_replies,
                                        reply_types, filters):
        rows = [self._ticket_row(t, php_bool(get_replies)) for t in self._tickets(status, staff_id, client_id, filters)]
        return self.empty(self.page(_sorted(rows, order_by), page))

    def support_manager_tickets_getListCount(self, status, staff_id, client_id, filters):
        return len(self._tickets(status, staff_id, client_id, filters))

    def support_manager_tickets_get(self, ticket_id, get_replies, reply_types, staff_id):
        ticket = self.t["tickets"].get(_int(ticket_id))
        return self._ticket_row(ticket, php_bool(get_replies)) if ticket else False

    def support_manager_departments_getAll(self, company_id, status, clients_only, criteria):
        """``support_departments.*`` of one company (the mailbox password decrypted, as Blesta does)."""
        rows = [d for d in self.t["departments"].values() if str(d.get("company_id")) == str(company_id)
                and status in (None, "", d.get("status", "visible"))]
        staff = [s.get("departments", []) for s in self.t["staff"].values()]
        return [{"id": _s(d["id"]), "company_id": _s(d["company_id"]), "name": d["name"], "description": "",
                 "email": d.get("email", ""), "method": "none", "default_priority": "low", "host": None,
                 "user": None, "pass": d.get("pass"), "port": None, "security": None, "box_name": None,
                 "mark_messages": None, "clients_only": "1", "override_from_email": "1",
                 "close_ticket_interval": None, "delete_ticket_interval": None, "response_id": None,
                 "automatic_transition": "0", "status": d.get("status", "visible"),
                 "assigned_staff": _s(sum(d["id"] in s for s in staff))}
                for d in sorted(rows, key=lambda d: d["id"])]

    def _ticket_fields(self, vars: Mapping[str, Any], ticket: dict[str, Any] | None) -> dict[str, Any]:
        errors: dict[str, dict[str, str]] = {}
        out: dict[str, Any] = {}
        if ticket is None or "department_id" in vars:
            department = self.t["departments"].get(_int(vars.get("department_id")))
            if department is None or str(department.get("company_id")) != str(self.config["company_id"]):
                errors["department_id"] = {"exists": "Please select a valid department."}
            out["department_id"] = _int(vars.get("department_id"))
        if ticket is None or "summary" in vars:
            summary = str(vars.get("summary") or "")
            if not summary.strip():
                errors["summary"] = {"empty": "Please enter a summary."}
            elif len(summary) > 255:
                errors["summary"] = {"length": "The summary may be at most 255 characters."}
            out["summary"] = summary
        if ticket is None or "priority" in vars:
            priority = vars.get("priority") or "low"
            if priority not in TICKET_PRIORITIES:
                errors["priority"] = {"format": "Please select a valid priority."}
            out["priority"] = priority
        if ticket is None or "status" in vars:
            status = vars.get("status") or "open"
            if status not in TICKET_STATUSES:
                errors["status"] = {"format": "Please select a valid status."}
            out["status"] = status
        if "client_id" in vars and vars["client_id"] not in (None, ""):
            if _int(vars["client_id"]) not in self.t["clients"]:
                errors["client_id"] = {"exists": "Invalid client ID."}
            if ticket is None or not ticket.get("client_id"):
                out["client_id"] = _int(vars["client_id"])
        if "staff_id" in vars:
            out["staff_id"] = _int(vars["staff_id"]) or None
        if errors:
            raise Invalid(errors)
        return out

    def support_manager_tickets_add(self, vars, require_email):
        vars = _array(vars, "vars")
        fields = self._ticket_fields(vars, None)
        email = vars.get("email") or None
        if not fields.get("client_id") and not email:
            raise Invalid({"email": {"format": "Please enter a valid email address."}})
        self._code += 1
        now = self.stamp()
        return _s(self._insert("tickets", {
            "code": self._code, "department_id": fields["department_id"], "staff_id": fields.get("staff_id"),
            "service_id": None, "client_id": fields.get("client_id"), "email": email, "summary": fields["summary"],
            "priority": fields["priority"], "status": fields["status"], "date_added": now, "date_updated": now,
            "date_closed": now if fields["status"] == "closed" else None}))

    def support_manager_tickets_addReply(self, ticket_id, vars, files, new_ticket):
        vars = _array(vars, "vars")
        ticket = self.t["tickets"].get(_int(ticket_id))
        if ticket is None:
            raise Invalid({"ticket_id": {"exists": "Invalid ticket ID."}})
        kind = vars.get("type") or "reply"
        errors: dict[str, dict[str, str]] = {}
        if kind not in ("reply", "note", "log"):
            errors["type"] = {"format": "Invalid reply type."}
        if kind != "log" and not str(vars.get("details") or "").strip():
            errors["details"] = {"empty": "Please enter some details."}
        if vars.get("staff_id") and _int(vars["staff_id"]) not in self.t["staff"]:
            errors["staff_id"] = {"exists": "Invalid staff ID."}
        if vars.get("client_id") and _int(vars["client_id"]) not in self.t["clients"]:
            errors["client_id"] = {"exists": "Invalid client ID."}
        if errors:
            raise Invalid(errors)
        changes = self._ticket_fields({k: vars[k] for k in ("status", "priority", "department_id", "summary")
                                       if k in vars}, ticket)
        if changes and not php_bool(new_ticket):
            self._log(ticket, changes)
        ticket.update(changes)
        now = self.stamp()
        ticket["date_updated"] = now
        return _s(self._insert("replies", {
            "ticket_id": ticket["id"], "staff_id": _int(vars.get("staff_id")) or None,
            "client_id": _int(vars.get("client_id")) or None, "contact_id": _int(vars.get("contact_id")) or None,
            "type": kind, "details": str(vars.get("details") or ""), "date_added": now}))

    def _log(self, ticket: dict[str, Any], changes: Mapping[str, Any]) -> None:
        text = "; ".join(f"{k} changed to {v}" for k, v in changes.items() if ticket.get(k) != v)
        if text:
            self._insert("replies", {"ticket_id": ticket["id"], "staff_id": None, "client_id": None,
                                     "contact_id": None, "type": "log", "details": text, "date_added": self.stamp()})

    def support_manager_tickets_edit(self, ticket_id, vars, log):
        vars = _array(vars, "vars")
        ticket = self.t["tickets"].get(_int(ticket_id))
        if ticket is None:
            raise Invalid({"ticket_id": {"exists": "Invalid ticket ID."}})
        changes = self._ticket_fields(vars, ticket)
        if php_bool(log):
            self._log(ticket, changes)
        if changes.get("status") == "closed" and ticket["status"] != "closed":
            changes["date_closed"] = self.stamp()
        elif "status" in changes and changes["status"] != "closed":
            changes["date_closed"] = None
        ticket.update(changes)
        ticket["date_updated"] = self.stamp()
        return None


# -- helpers ------------------------------------------------------------------------------------

def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def _array(value: Any, name: str) -> dict[str, Any]:
    """An ``array $name`` argument: a string there is a PHP TypeError."""
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if not isinstance(value, dict):
        raise Crash(f"Argument ${name} must be of type array, {type(value).__name__} given")
    return value


def _contact_fields(vars: Mapping[str, Any], only_given: bool = False) -> dict[str, Any]:
    names = ("first_name", "last_name", "title", "company", "email", "address1", "address2", "city", "state",
             "zip", "country")
    if only_given:
        return {k: (vars[k] or None) for k in names if k in vars}
    return {k: (vars.get(k) or None) for k in names}


def _plus_term(stamp: str, pricing: Mapping[str, Any]) -> str:
    start = datetime.strptime(stamp, STAMP)
    term = int(pricing.get("term") or 1)
    period = pricing.get("period") or "year"
    if period == "year":
        moved = start.replace(year=start.year + term)
    elif period == "month":
        month = start.month - 1 + term
        moved = start.replace(year=start.year + month // 12, month=month % 12 + 1, day=min(start.day, 28))
    else:
        moved = start + timedelta(days=term * (7 if period == "week" else 1))
    return moved.strftime(STAMP)


def _deep(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v) for v in value]
    return value
