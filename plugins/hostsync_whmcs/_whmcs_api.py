"""The WHMCS External API half of the sandbox: one handler per action, against the shared state.

Answers reproduce the shapes of the official examples (``raw/whmcs_example_responses.txt``),
including which numbers are strings and which are ints in each action, how each action spells an
empty list, and the error strings the reference lists for each action. Parameters are read the
way PHP reads them: every value is a string, and ``""``/``"0"`` are false while ``"false"`` is true.
"""

from __future__ import annotations

import base64
import random
import re
import string
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Mapping
from xml.sax.saxutils import escape

from hostsync.sandbox import Request, Response

TICKET_STATUSES = ("Open", "Answered", "Customer-Reply", "On Hold", "In Progress", "Closed")
TICKET_COLORS = ("#779500", "#000000", "#ff6600", "#224488", "#cc0000", "#888888")
PRIORITIES = ("Low", "Medium", "High")
INVOICE_STATUSES = ("Draft", "Unpaid", "Paid", "Cancelled", "Refunded", "Collections", "Payment Pending")
DOMAIN_STATUSES = ("Pending", "Pending Registration", "Pending Transfer", "Active", "Grace", "Redemption",
                   "Expired", "Transferred Away", "Cancelled", "Fraud")
CLIENT_FIELDS = {"firstname": "First Name", "lastname": "Last Name", "companyname": "Company Name",
                 "email": "Email Address", "address1": "Address 1", "address2": "Address 2", "city": "City",
                 "state": "State", "postcode": "Postcode", "country": "Country", "phonenumber": "Phone Number",
                 "status": "Status", "notes": "Notes", "language": "Language", "tax_id": "Tax ID"}
ZERO = "0000-00-00 00:00:00"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")


class ApiError(Exception):
    """A ``result=error`` answer with the vendor's message."""

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.status = status


def php_unserialize(text: str) -> dict[str, Any]:
    """A PHP ``serialize()``d flat array: int or string keys; string, int, bool or null values."""
    data = text.encode("utf-8")
    pos = 0

    def scalar() -> Any:
        nonlocal pos
        kind = data[pos:pos + 2]
        if kind == b"N;":
            pos += 2
            return None
        end = data.index(b";" if kind in (b"i:", b"b:") else b":", pos + 2)
        head = data[pos + 2:end].decode()
        if kind == b"i:":
            pos = end + 1
            return int(head)
        if kind == b"b:":
            pos = end + 1
            return head == "1"
        if kind != b"s:" or data[end + 1:end + 2] != b'"':
            raise ValueError("unsupported serialized value")
        start = end + 2
        pos = start + int(head)
        if data[pos:pos + 2] != b'";':
            raise ValueError("serialized string length does not match")
        pos += 2
        return data[start:pos - 2].decode("utf-8")

    match = re.match(rb"a:(\d+):\{", data)
    if not match:
        raise ValueError("not a serialized array")
    pos = match.end()
    out: dict[str, Any] = {}
    for _ in range(int(match.group(1))):
        key = scalar()
        out[str(key)] = scalar()
    if data[pos:] != b"}":
        raise ValueError("trailing data after the serialized array")
    return out


def _years_later(day: date, years: int) -> date:
    """The same day ``years`` later (28 February for a 29 February)."""
    return day.replace(year=day.year + years, day=28 if (day.month, day.day) == (2, 29) else day.day)


def php_true(value: Any) -> bool:
    return value not in (None, "", "0", 0, False)


def money(value: Any) -> str:
    try:
        return str(Decimal(str(value or "0").strip() or "0").quantize(Decimal("0.01"), ROUND_HALF_UP))
    except Exception:  # noqa: BLE001 - PHP casts garbage to 0
        return "0.00"


class WhmcsApi:
    """Mixin of :class:`~hostsync_whmcs.sandbox.WhmcsSandbox` answering ``/includes/api.php``."""

    state: dict[str, Any]
    allowed_ips: list[str] | None
    api_role: set[str] | None
    missing_actions: set[str]
    _rng: random.Random

    def whmcs(self, request: Request, p: dict[str, Any]) -> Response:
        action = str(p.get("action") or "")
        try:
            if self.allowed_ips is not None and request.client not in self.allowed_ips \
                    and p.get("accesskey") != self.ACCESSKEY:  # type: ignore[attr-defined]
                raise ApiError(f"Invalid IP {request.client}", 403)
            admin = self._whmcs_login(p)
            handler: Callable[..., dict[str, Any]] | None = getattr(self, f"_api_{action.lower()}", None)
            if handler is None or action.lower() in self.missing_actions:
                raise ApiError("Command Not Found")
            if self.api_role is not None and action.lower() not in self.api_role \
                    and (p.get("identifier") or p.get("username")) == self.IDENTIFIER:  # type: ignore[attr-defined]
                raise ApiError(f'Invalid Permissions: API action "{action.lower()}" is not allowed', 403)
            self._caller = {"admin": admin, "ip": request.client}
            data = handler(p)
        except ApiError as exc:
            return self._whmcs_answer({"result": "error", "message": str(exc)}, p, exc.status)
        return self._whmcs_answer({"result": "success", **data}, p)

    def _whmcs_login(self, p: Mapping[str, Any]) -> dict[str, Any]:
        admins = self.state["admins"]
        pair = (p.get("identifier") or p.get("username"), p.get("secret") or p.get("password"))
        if pair == (self.IDENTIFIER, self.SECRET):  # type: ignore[attr-defined]
            return admins[0]
        admin = self.admin_by_login(str(p.get("username") or ""), str(p.get("password") or ""))  # type: ignore[attr-defined]
        if admin is None:
            raise ApiError("Authentication Failed", 403)
        return admin

    def _whmcs_answer(self, data: dict[str, Any], p: Mapping[str, Any], status: int = 200) -> Response:
        if p.get("responsetype") == "json":
            return Response.json(data, status)
        # Without responsetype=json WHMCS falls back to its legacy formats.
        body = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in data.items() if not isinstance(v, (dict, list)))
        return Response.text(f'<?xml version="1.0" encoding="utf-8"?>\n<whmcsapi>{body}</whmcsapi>', status,
                             "text/xml; charset=utf-8")

    def _log(self, description: str, client_id: int = 0) -> None:
        caller = getattr(self, "_caller", {})
        self.log_activity(description, client_id, username=(caller.get("admin") or {}).get("username", ""),  # type: ignore[attr-defined]
                          ip=caller.get("ip", ""))

    def _email(self, to: str, template: str) -> None:
        self.state.setdefault("emails", []).append({"to": to, "template": template, "date": self.now()})  # type: ignore[attr-defined]

    @staticmethod
    def _page(rows: list[Any], p: Mapping[str, Any]) -> tuple[list[Any], int]:
        start = max(int(p.get("limitstart") or 0), 0)
        limit = max(int(p.get("limitnum") or 25), 1)
        return rows[start:start + limit], start

    # -- clients ------------------------------------------------------------------------------

    def _client(self, client_id: Any, message: str = "Client ID Not Found") -> dict[str, Any]:
        try:
            return self.state["clients"][int(client_id)]
        except (KeyError, ValueError, TypeError):
            raise ApiError(message) from None

    def _client_by_email(self, email: str) -> dict[str, Any] | None:
        email = email.strip().lower()
        return next((c for c in self.state["clients"].values() if c["email"].lower() == email and email), None)

    def _currency(self, client: Mapping[str, Any]) -> dict[str, Any]:
        return next((c for c in self.state["currencies"] if c["id"] == client.get("currency")),
                    self.state["currencies"][0])

    def _api_getclients(self, p: dict[str, Any]) -> dict[str, Any]:
        rows = list(self.state["clients"].values())
        if p.get("status"):
            rows = [c for c in rows if c["status"].lower() == str(p["status"]).lower()]
        if p.get("search"):
            term = str(p["search"]).lower()
            rows = [c for c in rows if any(str(v).lower().startswith(term) for v in (
                c["email"], c["firstname"], c["lastname"], f"{c['firstname']} {c['lastname']}", c["companyname"]))]
        order = str(p.get("orderby") or "")
        key = (lambda c: (str(c.get(order, "")).lower(), c["id"])) if order in (
            "firstname", "lastname", "companyname", "email", "status", "datecreated") else \
            (lambda c: (c["id"],)) if order in ("id", "groupid") else \
            (lambda c: (c["firstname"].lower(), c["lastname"].lower(), c["id"]))
        rows.sort(key=key, reverse=str(p.get("sorting") or "ASC").upper() == "DESC")
        page, start = self._page(rows, p)
        answer: dict[str, Any] = {"totalresults": len(rows), "startnumber": start, "numreturned": len(page)}
        answer["clients"] = {"client": [
            {"id": c["id"], "firstname": c["firstname"], "lastname": c["lastname"], "companyname": c["companyname"],
             "email": c["email"], "datecreated": c["datecreated"], "groupid": c.get("groupid", 0),
             "status": c["status"]} for c in page]} if page else ""
        return answer

    def _api_getclientsdetails(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("clientid"):
            client = self._client(p["clientid"], "Client Not Found")
        elif p.get("email"):
            client = self._client_by_email(str(p["email"]))
            if client is None:
                raise ApiError("Client Not Found")
        else:
            raise ApiError("Either clientid Or email Is Required")
        currency = self._currency(client)
        details = {
            "client_id": client["id"], "owner_user_id": client["id"], "userid": client["id"], "id": client["id"],
            "uuid": client.get("uuid", ""), "firstname": client["firstname"], "lastname": client["lastname"],
            "fullname": f"{client['firstname']} {client['lastname']}".strip(), "companyname": client["companyname"],
            "email": client["email"], "address1": client["address1"], "address2": client["address2"],
            "city": client["city"], "fullstate": client["state"], "state": client["state"],
            "postcode": client["postcode"], "countrycode": client["country"], "country": client["country"],
            "phonenumber": client["phonenumber"], "tax_id": client.get("tax_id", ""),
            "email_preferences": {k: "1" for k in ("general", "invoice", "support", "product", "domain", "affiliate")},
            "statecode": client["state"], "billingcid": 0, "notes": client.get("notes", ""),
            "currency": currency["id"], "defaultgateway": "", "groupid": client.get("groupid", 0),
            "status": client["status"], "credit": "0.00", "taxexempt": False, "language": client.get("language", ""),
            "lastlogin": "No Login Logged", "currency_code": currency["code"],
            "customfields": [{"id": field["id"], "value": client.get("customfields", {}).get(str(field["id"]), "")}
                             for field in self._client_fields()],
            **{f"customfields{n}": client.get("customfields", {}).get(str(field["id"]), "")
               for n, field in enumerate(self._client_fields(), start=1)},
            "users": {"user": [{"id": client["id"], "name": f"{client['firstname']} "
                                                    f"{client['lastname']}", "email": client["email"],
                                                    "is_owner": True}]},
        }
        answer = {"client": details, **details}  # the deprecated top-level copy, as WHMCS still sends it
        if php_true(p.get("stats")):
            answer["stats"] = {"numdueinvoices": 0, "numactivedomains": sum(
                1 for d in self.state["domains"].values() if d["userid"] == client["id"] and d["status"] == "Active")}
        return answer

    def _client_fields(self) -> list[dict[str, Any]]:
        return [field for field in self.state["customfields"] if field["type"] == "client"]

    def _custom_values(self, p: Mapping[str, Any]) -> dict[str, str]:
        """The ``customfields`` parameter (a base64 ``serialize()``d array of field id -> value), for
        the client custom fields that exist; WHMCS ignores other ids."""
        raw = str(p.get("customfields") or "")
        if not raw:
            return {}
        try:
            values = php_unserialize(base64.b64decode(raw, validate=True).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError("Invalid customfields format") from None
        known = {str(field["id"]) for field in self._client_fields()}
        return {str(k): str(v) for k, v in values.items() if str(k) in known}

    def _validate_client(self, p: Mapping[str, Any], client_id: int | None) -> None:
        email = str(p.get("email", "")).strip()
        if email and not _EMAIL.match(email):
            raise ApiError("The email address you entered was not valid" if client_id is None
                           else "The email address entered is not valid")
        other = self._client_by_email(email) if email else None
        if other and other["id"] != client_id:
            raise ApiError("A user already exists with that email address" if client_id is None
                           else "Duplicate Email Address")
        country = str(p.get("country", "")).strip()
        if country and not re.fullmatch(r"[A-Z]{2}", country):
            raise ApiError("Valid country required")

    def _api_addclient(self, p: dict[str, Any]) -> dict[str, Any]:
        if not php_true(p.get("skipvalidation")):
            for key, message in (("firstname", "You did not enter your first name"),
                                 ("lastname", "You did not enter your last name"),
                                 ("email", "You did not enter your email address"),
                                 ("address1", "You did not enter your  address line 1"),
                                 ("city", "You did not enter your city"), ("state", "You did not enter your state"),
                                 ("postcode", "You did not enter your postcode"), ("country", "Valid country required"),
                                 ("phonenumber", "You did not enter your phone number")):
                if not str(p.get(key, "")).strip():
                    raise ApiError(message)
        self._validate_client(p, None)
        client_id = self.new_id("clients")  # type: ignore[attr-defined]
        client = {"id": client_id, "uuid": f"00000000-0000-4000-8000-{client_id:012d}",
                  "datecreated": self.now()[:10], "groupid": 0, "status": "Active",  # type: ignore[attr-defined]
                  "currency": int(p.get("currency") or self.state["currencies"][0]["id"]),
                  "password_set": bool(p.get("password2")), "notes": str(p.get("notes", "")),
                  "language": str(p.get("language", "")), "tax_id": str(p.get("tax_id", "")),
                  "customfields": self._custom_values(p)}
        for key in ("firstname", "lastname", "companyname", "email", "address1", "address2", "city", "state",
                    "postcode", "country", "phonenumber"):
            client[key] = str(p.get(key, "")).strip()
        self.state["clients"][client_id] = client
        self._log(f"Created Client {client['firstname']} {client['lastname']} - User ID: {client_id}", client_id)
        if not php_true(p.get("noemail")):
            self._email(client["email"], "Client Signup Email")
        return {"clientid": str(client_id)}

    def _api_updateclient(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("clientid"):
            client = self._client(p["clientid"])
        else:
            client = self._client_by_email(str(p.get("clientemail") or "")) or self._client(None)
        self._validate_client(p, client["id"])
        if "status" in p and p["status"] not in ("Active", "Inactive", "Closed"):
            raise ApiError(f"Invalid status {p['status']}")
        custom = self._custom_values(p)
        self._change_client(client, {k: v for k, v in p.items() if k in CLIENT_FIELDS},
                            username=self._caller["admin"]["username"], ip=self._caller["ip"])
        client.setdefault("customfields", {}).update(custom)
        return {"clientid": str(client["id"])}

    def _change_client(self, client: dict[str, Any], changes: Mapping[str, Any], *, username: str, ip: str) -> None:
        changelist = []
        for key, value in changes.items():
            value = str(value).strip()
            if client.get(key, "") != value:
                changelist.append(f"{CLIENT_FIELDS.get(key, key)}: '{client.get(key, '')}' to '{value}'")
                client[key] = value
        self.log_activity(f"Client Profile Modified - {', '.join(changelist) or 'No Changes'} - "  # type: ignore[attr-defined]
                          f"User ID: {client['id']}", client["id"], username=username, ip=ip)

    def _api_getactivitylog(self, p: dict[str, Any]) -> dict[str, Any]:
        rows = sorted(self.state["activity"].values(), key=lambda e: e["id"], reverse=True)
        client_id = p.get("clientid") or p.get("userid")
        if client_id:
            rows = [e for e in rows if str(e["clientId"]) == str(client_id)]
        if p.get("date"):  # localised, e.g. 31/01/2016
            try:
                wanted = datetime.strptime(str(p["date"]), "%d/%m/%Y").strftime("%Y-%m-%d")
            except ValueError:
                wanted = "-"
            rows = [e for e in rows if e["date"].startswith(wanted)]
        if p.get("user"):
            rows = [e for e in rows if e["username"] == p["user"]]
        if p.get("description"):
            rows = [e for e in rows if str(p["description"]).lower() in e["description"].lower()]
        if p.get("ipaddress"):
            rows = [e for e in rows if e["ipaddress"] == p["ipaddress"]]
        page, start = self._page(rows, p)
        answer: dict[str, Any] = {"totalresults": len(rows), "startnumber": start}
        if page:  # no numreturned, and no list key at all when empty (as GetTodoItems shows)
            answer["activity"] = {"entry": [{**e, "userid": e["clientId"]} for e in page]}
        return answer

    # -- tickets ------------------------------------------------------------------------------

    def _ticket(self, p: Mapping[str, Any], message: str = "Ticket ID Not Found") -> dict[str, Any]:
        if p.get("ticketnum"):
            found = next((t for t in self.state["tickets"].values() if t["tid"] == str(p["ticketnum"])), None)
            if found:
                return found
            raise ApiError(message)
        try:
            return self.state["tickets"][int(p.get("ticketid") or 0)]
        except (KeyError, ValueError):
            raise ApiError(message) from None

    def _department(self, dept_id: Any, message: str) -> dict[str, Any]:
        found = next((d for d in self.state["departments"] if str(d["id"]) == str(dept_id)), None)
        if found is None:
            raise ApiError(message)
        return found

    def _when(self, p: Mapping[str, Any], future_message: str) -> str:
        created = str(p.get("created") or "").strip()
        if not created:
            return self.now()  # type: ignore[attr-defined]
        if not _DATETIME.match(created):
            raise ApiError("Invalid Date Format")
        if created > self.now():  # type: ignore[attr-defined]
            raise ApiError(future_message)
        return created if len(created) > 10 else f"{created} 00:00:00"

    def _ticket_row(self, t: Mapping[str, Any]) -> dict[str, Any]:
        client = self.state["clients"].get(t["userid"])
        name = f"{client['firstname']} {client['lastname']}" if client else t["name"]
        email = client["email"] if client else t["email"]
        return {
            "id": str(t["id"]), "tid": t["tid"], "deptid": str(t["deptid"]), "userid": str(t["userid"]),
            "name": name, "owner_name": name, "email": email, "requestor_name": name, "requestor_email": email,
            "requestor_type": "Owner" if client else "Guest", "cc": "", "c": t["c"], "date": t["date"],
            "subject": t["subject"], "status": t["status"], "priority": t["priority"], "admin": t.get("admin", ""),
            "attachment": "", "attachments": [], "attachments_removed": False, "lastreply": t["lastreply"],
            "flag": str(t.get("flag", 0)), "service": "",
        }

    def _api_gettickets(self, p: dict[str, Any]) -> dict[str, Any]:
        rows = sorted(self.state["tickets"].values(), key=lambda t: t["id"], reverse=True)
        if not php_true(p.get("ignore_dept_assignments")):
            mine = self._caller["admin"].get("departments", [])
            rows = [t for t in rows if t["deptid"] in mine]
        for key in ("deptid", "clientid"):
            if p.get(key):
                field = "userid" if key == "clientid" else key
                rows = [t for t in rows if str(t[field]) == str(p[key])]
        if p.get("email"):
            rows = [t for t in rows if self._ticket_row(t)["email"].lower() == str(p["email"]).lower()]
        if p.get("subject"):
            rows = [t for t in rows if str(p["subject"]).lower() in t["subject"].lower()]
        status = str(p.get("status") or "")
        if status == "Awaiting Reply":
            rows = [t for t in rows if t["status"] in ("Open", "Customer-Reply")]
        elif status == "All Active Tickets":
            rows = [t for t in rows if t["status"] != "Closed"]
        elif status == "My Flagged Tickets":
            rows = [t for t in rows if t.get("flag") == self._caller["admin"]["id"]]
        elif status:
            rows = [t for t in rows if t["status"] == status]
        page, start = self._page(rows, p)
        answer: dict[str, Any] = {"totalresults": str(len(rows)), "startnumber": start, "numreturned": len(page)}
        if page:
            answer["tickets"] = {"ticket": [self._ticket_row(t) for t in page]}
        return answer

    def _reply_out(self, t: Mapping[str, Any], r: Mapping[str, Any]) -> dict[str, Any]:
        client = self.state["clients"].get(r.get("userid") or 0)
        out = {"replyid": str(r["replyid"]), "userid": str(t["userid"]), "contactid": "0",
               "name": r.get("name", ""), "email": r.get("email", ""), "date": r["date"], "message": r["message"],
               "attachment": "", "attachments": [[]], "attachments_removed": False, "admin": r.get("admin", "")}
        if r.get("admin"):
            out.update(requestor_name=r["admin"], requestor_email="", requestor_type="Operator")
        elif client:
            full = f"{client['firstname']} {client['lastname']}"
            out.update(requestor_name=full, requestor_email=client["email"], requestor_type="Owner")
            if r["replyid"] == 0:  # the opening message names the client; later replies leave name/email empty
                out.update(name=full, email=client["email"])
        else:
            out.update(requestor_name=r.get("name", ""), requestor_email=r.get("email", ""), requestor_type="Guest")
        if r["replyid"]:
            out["rating"] = "0"
        return out

    def _api_getticket(self, p: dict[str, Any]) -> dict[str, Any]:
        t = self._ticket(p)
        row = self._ticket_row(t)
        replies = sorted(t["replies"], key=lambda r: r["replyid"],
                         reverse=str(p.get("repliessort") or "ASC").upper() == "DESC")
        dept = self._department(t["deptid"], "Department ID Not Found")
        return {"ticketid": str(t["id"]), "tid": t["tid"], "c": t["c"], "deptid": str(t["deptid"]),
                "deptname": dept["name"], "userid": str(t["userid"]), "contactid": "0", "name": row["name"],
                "email": row["email"], "cc": "", "date": t["date"], "subject": t["subject"], "status": t["status"],
                "priority": t["priority"], "admin": t.get("admin", ""), "lastreply": t["lastreply"],
                "flag": str(t.get("flag", 0)), "service": "",
                "replies": {"reply": [self._reply_out(t, r) for r in replies]}, "notes": ""}

    def _api_openticket(self, p: dict[str, Any]) -> dict[str, Any]:
        dept = self._department(p.get("deptid"), "Department ID not found")
        if not str(p.get("subject", "")).strip():
            raise ApiError("Subject is required")
        if not str(p.get("message", "")).strip():
            raise ApiError("Message is required")
        client = self._client(p["clientid"]) if php_true(p.get("clientid")) else None
        if client is None:
            if not p.get("name") or not p.get("email"):
                raise ApiError("Name and email address are required if not a client")
            if not _EMAIL.match(str(p["email"])):
                raise ApiError("Email Address Invalid")
        created = self._when(p, "Ticket creation date cannot be in the future")
        ticket_id = self.new_id("tickets")  # type: ignore[attr-defined]
        tid = "".join(self._rng.choice(string.digits) for _ in range(6))
        c = "".join(self._rng.choice(string.ascii_letters + string.digits) for _ in range(8))
        priority = p.get("priority") if p.get("priority") in PRIORITIES else "Medium"
        admin = "" if not php_true(p.get("admin")) else \
            f"{self._caller['admin']['firstname']} {self._caller['admin']['lastname']}"
        self.state["tickets"][ticket_id] = {
            "id": ticket_id, "tid": tid, "c": c, "deptid": dept["id"], "userid": client["id"] if client else 0,
            "name": "" if client else str(p["name"]), "email": "" if client else str(p["email"]),
            "date": created, "subject": str(p["subject"]).strip(), "status": "Open", "priority": priority,
            "admin": "", "lastreply": created, "flag": 0,
            "replies": [{"replyid": 0, "userid": client["id"] if client else 0, "date": created,
                         "message": str(p["message"]), "admin": admin,
                         "name": "" if client else str(p["name"]), "email": "" if client else str(p["email"])}],
        }
        self._log(f"New Support Ticket Opened - Ticket ID: {ticket_id}", client["id"] if client else 0)
        if not php_true(p.get("noemail")):
            self._email(client["email"] if client else str(p["email"]), "Support Ticket Opened")
        return {"id": str(ticket_id), "tid": tid, "c": c}

    def _api_addticketreply(self, p: dict[str, Any]) -> dict[str, Any]:
        t = self._ticket(p, "Ticket ID not found")
        if not str(p.get("message", "")).strip():
            raise ApiError("Message is required")
        client = self._client(p["clientid"]) if php_true(p.get("clientid")) else None
        admin = str(p.get("adminusername") or "")
        if client is None and not admin and (not p.get("name") or not p.get("email")):
            raise ApiError("Name and email address are required if not a client")
        if p.get("email") and not _EMAIL.match(str(p["email"])):
            raise ApiError("Email Address Invalid")
        if p.get("status") and p["status"] not in TICKET_STATUSES:
            raise ApiError("Invalid Ticket Status")
        created = self._when(p, "Reply creation date cannot be in the future")
        t["replies"].append({"replyid": max(r["replyid"] for r in t["replies"]) + 1,
                             "userid": client["id"] if client else 0, "date": created, "message": str(p["message"]),
                             "admin": admin, "name": "" if client or admin else str(p.get("name", "")),
                             "email": "" if client or admin else str(p.get("email", ""))})
        t["lastreply"] = max(t["lastreply"], created)
        t["status"] = p.get("status") or ("Answered" if admin else "Customer-Reply")
        self._log(f"New Ticket Response - Ticket ID: {t['id']}", t["userid"])
        return {}

    def _api_updateticket(self, p: dict[str, Any]) -> dict[str, Any]:
        t = self._ticket(p)
        if p.get("deptid"):
            t["deptid"] = self._department(p["deptid"], "Department ID Not Found")["id"]
        if p.get("priority"):
            if p["priority"] not in PRIORITIES:
                raise ApiError("Invalid Ticket Priority. Valid priorities are: Low,Medium,High")
            t["priority"] = p["priority"]
        if p.get("status"):
            if p["status"] not in TICKET_STATUSES:
                raise ApiError(f"Invalid Ticket Status. Valid statuses are: {','.join(TICKET_STATUSES)}")
            t["status"] = p["status"]
        if p.get("subject"):
            t["subject"] = str(p["subject"]).strip()
        if p.get("userid"):
            t["userid"] = self._client(p["userid"])["id"]
        if p.get("created"):
            t["date"] = t["replies"][0]["date"] = self._when(p, "Ticket creation date cannot be in the future")
        self._log(f"Modified Ticket - Ticket ID: {t['id']}", t["userid"])
        return {"ticketid": str(t["id"])}

    def _api_getsupportdepartments(self, p: dict[str, Any]) -> dict[str, Any]:
        departments = self.state["departments"]
        if not php_true(p.get("ignore_dept_assignments")):
            departments = [d for d in departments if d["id"] in self._caller["admin"].get("departments", [])]
        tickets = self.state["tickets"].values()
        return {"totalresults": len(departments), "departments": {"department": [
            {"id": str(d["id"]), "name": d["name"],
             "awaitingreply": str(sum(1 for t in tickets if t["deptid"] == d["id"]
                                      and t["status"] in ("Open", "Customer-Reply"))),
             "opentickets": str(sum(1 for t in tickets if t["deptid"] == d["id"] and t["status"] != "Closed"))}
            for d in departments]}}

    def _api_getsupportstatuses(self, p: dict[str, Any]) -> dict[str, Any]:
        tickets = self.state["tickets"].values()
        return {"totalresults": len(TICKET_STATUSES), "statuses": {"status": [
            {"title": s, "count": sum(1 for t in tickets if t["status"] == s), "color": color}
            for s, color in zip(TICKET_STATUSES, TICKET_COLORS)]}}

    # -- invoices -----------------------------------------------------------------------------

    def _invoice(self, p: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self.state["invoices"][int(p.get("invoiceid") or 0)]
        except (KeyError, ValueError):
            raise ApiError("Invoice ID Not Found") from None

    def _totals(self, inv: dict[str, Any]) -> dict[str, str]:
        subtotal = sum((Decimal(money(i["amount"])) for i in inv["items"]), Decimal("0"))
        taxable = sum((Decimal(money(i["amount"])) for i in inv["items"] if i["taxed"]), Decimal("0"))
        tax = (taxable * Decimal(str(inv.get("taxrate") or "0")) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        tax2 = (taxable * Decimal(str(inv.get("taxrate2") or "0")) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        total = subtotal + tax + tax2 - Decimal(money(inv.get("credit")))
        paid = sum((Decimal(money(t["amountin"])) - Decimal(money(t["amountout"]))
                    for t in inv.get("transactions") or []), Decimal("0"))
        # what is still owed: the total less the payments recorded, whatever the status says (an
        # invoice marked Paid with UpdateInvoice has no payment, and its balance stays the total)
        return {"subtotal": money(subtotal), "tax": money(tax), "tax2": money(tax2), "total": money(total),
                "balance": money(total - paid)}

    def _invoice_row(self, inv: dict[str, Any]) -> dict[str, Any]:
        client = self.state["clients"].get(inv["userid"], {})
        currency = self._currency(client)
        totals = self._totals(inv)
        return {"id": inv["id"], "userid": inv["userid"], "firstname": client.get("firstname", ""),
                "lastname": client.get("lastname", ""), "companyname": client.get("companyname", ""),
                "invoicenum": inv.get("invoicenum", ""), "date": inv["date"], "duedate": inv["duedate"],
                "datepaid": inv.get("datepaid") or ZERO, "last_capture_attempt": ZERO,
                "date_refunded": ZERO, "date_cancelled": ZERO, "subtotal": totals["subtotal"],
                "credit": money(inv.get("credit")), "tax": totals["tax"], "tax2": totals["tax2"],
                "total": totals["total"], "taxrate": f"{Decimal(str(inv.get('taxrate') or 0)):.3f}",
                "taxrate2": f"{Decimal(str(inv.get('taxrate2') or 0)):.3f}", "status": inv["status"],
                "paymentmethod": inv.get("paymentmethod", ""), "paymethodid": None, "notes": inv.get("notes", ""),
                "created_at": inv["created_at"], "updated_at": inv["updated_at"], "currencycode": currency["code"],
                "currencyprefix": currency["prefix"], "currencysuffix": currency["suffix"]}

    def _api_getinvoices(self, p: dict[str, Any]) -> dict[str, Any]:
        rows = list(self.state["invoices"].values())
        if p.get("userid"):
            rows = [i for i in rows if str(i["userid"]) == str(p["userid"])]
        status = str(p.get("status") or "")
        if status == "Overdue":
            today = self.now()[:10]  # type: ignore[attr-defined]
            rows = [i for i in rows if i["status"] == "Unpaid" and i["duedate"] < today]
        elif status:
            rows = [i for i in rows if i["status"] == status]
        order = {"invoicenumber": "invoicenum", "date": "date", "duedate": "duedate", "status": "status"}.get(
            str(p.get("orderby") or ""), "id")
        key = (lambda i: Decimal(self._totals(i)["total"])) if p.get("orderby") == "total" else \
            (lambda i: (i.get(order) or "", i["id"]) if order != "id" else i["id"])
        rows.sort(key=key, reverse=str(p.get("order") or "desc").lower() == "desc")
        page, start = self._page(rows, p)
        answer: dict[str, Any] = {"totalresults": len(rows), "startnumber": start, "numreturned": len(page)}
        if page:
            answer["invoices"] = {"invoice": [self._invoice_row(i) for i in page]}
        return answer

    def _api_getinvoice(self, p: dict[str, Any]) -> dict[str, Any]:
        inv = self._invoice(p)
        row = self._invoice_row(inv)
        return {"invoiceid": inv["id"], "invoicenum": row["invoicenum"], "userid": inv["userid"],
                "date": inv["date"], "duedate": inv["duedate"], "datepaid": row["datepaid"],
                "lastcaptureattempt": ZERO, "subtotal": row["subtotal"], "credit": row["credit"], "tax": row["tax"],
                "tax2": row["tax2"], "total": row["total"], "balance": self._totals(inv)["balance"],
                "taxrate": row["taxrate"], "taxrate2": row["taxrate2"], "status": inv["status"],
                "paymentmethod": row["paymentmethod"], "notes": row["notes"], "ccgateway": False,
                "items": {"item": [{"id": i["id"], "type": i.get("type", ""), "relid": i.get("relid", 0),
                                    "description": i["description"], "amount": money(i["amount"]),
                                    "taxed": 1 if i["taxed"] else 0} for i in inv["items"]]},
                "transactions": {"transaction": [dict(t) for t in inv["transactions"]]}
                if inv.get("transactions") else ""}

    def _next_item_id(self) -> int:
        return max((i["id"] for inv in self.state["invoices"].values() for i in inv["items"]), default=0) + 1

    def _api_createinvoice(self, p: dict[str, Any]) -> dict[str, Any]:
        client = self._client(p.get("userid"))
        draft = php_true(p.get("draft"))
        if draft and php_true(p.get("sendinvoice")):
            raise ApiError("Cannot create and send a draft invoice in a single API request. "
                           "Please create and send separately.")
        status = "Draft" if draft else str(p.get("status") or "Unpaid")
        if status not in INVOICE_STATUSES:
            raise ApiError(f"Invalid status {status}")
        invoice_id = self.new_id("invoices")  # type: ignore[attr-defined]
        now = self.now()  # type: ignore[attr-defined]
        invoice_date = str(p.get("date") or now[:10])
        inv = {"id": invoice_id, "userid": client["id"], "invoicenum": "", "date": invoice_date,
               "duedate": str(p.get("duedate") or invoice_date), "datepaid": now if status == "Paid" else ZERO,
               "status": status, "paymentmethod": str(p.get("paymentmethod") or
                                                      self.state["paymentmethods"][0]["module"]),
               "notes": str(p.get("notes", "")), "taxrate": str(p.get("taxrate") or "0"),
               "taxrate2": str(p.get("taxrate2") or "0"), "credit": "0.00", "created_at": now, "updated_at": now,
               "items": []}
        numbers = sorted(int(m.group(1)) for k in p if (m := re.fullmatch(r"itemdescription(\d+)", k)))
        next_item = self._next_item_id()
        for n in numbers:
            inv["items"].append({"id": next_item, "type": "", "relid": 0, "description": str(p[f"itemdescription{n}"]),
                                 "amount": money(p.get(f"itemamount{n}")), "taxed": php_true(p.get(f"itemtaxed{n}"))})
            next_item += 1
        self.state["invoices"][invoice_id] = inv
        self._log(f"Created Invoice - Invoice ID: {invoice_id}", client["id"])
        if php_true(p.get("sendinvoice")):
            self._email(client["email"], "Invoice Created")
        return {"invoiceid": str(invoice_id), "status": status}

    def _api_updateinvoice(self, p: dict[str, Any]) -> dict[str, Any]:
        inv = self._invoice(p)
        if p.get("status") and p["status"] not in INVOICE_STATUSES:
            raise ApiError(f"Invalid status {p['status']}")
        if php_true(p.get("publish")) or php_true(p.get("publishandsendemail")):
            if inv["status"] != "Draft":
                raise ApiError("Invoice must be in Draft status to be published")
        edits = [p.get(k) or {} for k in ("itemdescription", "itemamount", "itemtaxed")]
        if any(not isinstance(e, dict) for e in edits) or any(set(e) != set(edits[0]) for e in edits):
            raise ApiError("Missing Variables: itemdescription, itemamount and itemtaxed are required for "
                           "each item being changed")
        items = {str(i["id"]): i for i in inv["items"]}
        for line_id, description in edits[0].items():
            if line_id in items:
                items[line_id].update(description=str(description), amount=money(edits[1][line_id]),
                                      taxed=php_true(edits[2][line_id]))
        new = p.get("newitemdescription") or {}
        next_item = self._next_item_id()
        for index in sorted(new, key=lambda k: int(k) if str(k).isdigit() else 0) if isinstance(new, dict) else []:
            inv["items"].append({"id": next_item, "type": "", "relid": 0, "description": str(new[index]),
                                 "amount": money((p.get("newitemamount") or {}).get(index)),
                                 "taxed": php_true((p.get("newitemtaxed") or {}).get(index))})
            next_item += 1
        deleted = set((p.get("deletelineids") or {}).values()) if isinstance(p.get("deletelineids"), dict) else set()
        inv["items"] = [i for i in inv["items"] if str(i["id"]) not in deleted]
        for key in ("date", "duedate", "notes", "taxrate", "taxrate2", "paymentmethod"):
            if key in p:
                inv[key] = str(p[key])
        if "datepaid" in p:
            paid = str(p["datepaid"]).strip()
            inv["datepaid"] = ZERO if not paid else paid if len(paid) > 10 else f"{paid} 00:00:00"
        if php_true(p.get("publish")) or php_true(p.get("publishandsendemail")):
            inv["status"] = "Unpaid"
        if p.get("status"):
            inv["status"] = p["status"]
            if p["status"] == "Paid" and inv["datepaid"] == ZERO:
                inv["datepaid"] = self.now()  # type: ignore[attr-defined]
        inv["updated_at"] = self.now()  # type: ignore[attr-defined]
        self._log(f"Modified Invoice Options - Invoice ID: {inv['id']}", inv["userid"])
        return {"invoiceid": str(inv["id"])}

    def _api_addinvoicepayment(self, p: dict[str, Any]) -> dict[str, Any]:
        inv = self._invoice(p)
        if inv["status"] == "Cancelled":
            raise ApiError("It is not possible to add a payment to an invoice that is Cancelled")
        for key in ("transid", "gateway"):
            if not str(p.get(key) or "").strip():
                raise ApiError(f"Missing required parameter: {key}")
        balance = Decimal(self._totals(inv)["balance"])
        amount = Decimal(money(p["amount"])) if str(p.get("amount") or "").strip() else balance
        when = str(p.get("date") or "").strip() or self.now()  # type: ignore[attr-defined]
        if not _DATETIME.match(when):
            raise ApiError("Invalid Date Format")
        when = when if len(when) > 10 else f"{when} 00:00:00"
        transactions = inv.setdefault("transactions", [])
        transactions.append({
            "id": max((t["id"] for i in self.state["invoices"].values() for t in i.get("transactions") or []),
                      default=0) + 1,
            "userid": inv["userid"], "currency": 0, "gateway": str(p["gateway"]), "date": when,
            "description": f"Invoice Payment (#{inv['id']})", "amountin": money(amount),
            "fees": money(p.get("fees")), "amountout": "0.00", "rate": "1.00000", "transid": str(p["transid"]),
            "invoiceid": inv["id"], "refundid": 0})
        if Decimal(self._totals(inv)["balance"]) <= 0 and inv["status"] in ("Unpaid", "Payment Pending", "Collections"):
            inv["status"], inv["datepaid"] = "Paid", when
        inv["updated_at"] = self.now()  # type: ignore[attr-defined]
        self._log(f"Added Invoice Payment - Invoice ID: {inv['id']}", inv["userid"])
        return {}

    def _api_deleteclient(self, p: dict[str, Any]) -> dict[str, Any]:
        """Deletes the client with everything it owns (WHMCS keeps transactions unless
        ``deletetransactions`` is set; this emulator keeps none of the client's records)."""
        client = self._client(p.get("clientid"))
        for table, column in (("tickets", "userid"), ("invoices", "userid"), ("domains", "userid"),
                              ("orders", "userid")):
            for row_id in [i for i, row in self.state[table].items() if row[column] == client["id"]]:
                del self.state[table][row_id]
        del self.state["clients"][client["id"]]
        self._log(f"Client Deleted - User ID: {client['id']}", client["id"])
        return {"clientid": client["id"]}

    # -- domains and orders -------------------------------------------------------------------

    def _api_getclientsdomains(self, p: dict[str, Any]) -> dict[str, Any]:
        rows = sorted(self.state["domains"].values(), key=lambda d: d["id"])
        if p.get("clientid"):
            rows = [d for d in rows if str(d["userid"]) == str(p["clientid"])]
        if p.get("domainid"):
            rows = [d for d in rows if str(d["id"]) == str(p["domainid"])]
        if p.get("domain"):
            rows = [d for d in rows if d["domainname"].lower() == str(p["domain"]).strip().lower()]
        page, start = self._page(rows, p)
        answer: dict[str, Any] = {"clientid": str(p.get("clientid") or ""), "domainid": str(p.get("domainid") or ""),
                                  "totalresults": str(len(rows)), "startnumber": str(start),
                                  "numreturned": str(len(page))}
        if page:  # every value a string, as the GetClientsDomains example shows
            answer["domains"] = {"domain": [{k: "" if v is None else str(v) for k, v in d.items()} for d in page]}
        return answer

    def _api_updateclientdomain(self, p: dict[str, Any]) -> dict[str, Any]:
        try:
            domain = self.state["domains"][int(p.get("domainid") or 0)]
        except (KeyError, ValueError):
            raise ApiError("Domain ID Not Found") from None
        if p.get("status") and p["status"] not in DOMAIN_STATUSES:
            raise ApiError(f"Invalid Domain Status. Valid statuses are: {','.join(DOMAIN_STATUSES)}")
        for key in ("regdate", "expirydate", "nextduedate"):
            if p.get(key) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(p[key])):
                raise ApiError("Invalid Date Format")
        for key, field in (("domain", "domainname"), ("status", "status"), ("regdate", "regdate"),
                           ("expirydate", "expirydate"), ("nextduedate", "nextduedate"),
                           ("registrar", "registrar"), ("notes", "notes"), ("regperiod", "regperiod")):
            if key in p and (p[key] != "" or key == "notes"):
                domain[field] = str(p[key]).strip()
        self._log(f"Domain Modified - Domain ID: {domain['id']}", domain["userid"])
        return {"domainid": str(domain["id"])}

    def _api_domainregister(self, p: dict[str, Any]) -> dict[str, Any]:
        """Sends the registration to the domain's registrar (emulated as accepted): the domain
        becomes Active, registered today for its period."""
        if p.get("domainid"):
            domain = self.state["domains"].get(int(p["domainid"]) if str(p["domainid"]).isdigit() else 0)
        else:
            name = str(p.get("domain") or "").strip().lower()
            domain = next((d for d in self.state["domains"].values() if name and d["domainname"] == name), None)
        if domain is None:
            raise ApiError("Domain Not Found")
        if domain["status"] in ("Active", "Transferred Away", "Cancelled", "Fraud"):
            raise ApiError(f"Registrar Error Message: the domain is {domain['status']}")
        today = date.fromisoformat(self.now()[:10])  # type: ignore[attr-defined]
        years = int(domain.get("regperiod") or 1)
        domain.update(status="Active", regdate=today.isoformat(), registrar=domain.get("registrar") or "enom",
                      expirydate=_years_later(today, years).isoformat())
        self._log(f"Domain Registered - Domain ID: {domain['id']} - Domain: {domain['domainname']}",
                  domain["userid"])
        return {}

    def _api_getpaymentmethods(self, p: dict[str, Any]) -> dict[str, Any]:
        methods = self.state["paymentmethods"]
        return {"totalresults": len(methods), "paymentmethods": {"paymentmethod": list(methods)}}

    def _api_addorder(self, p: dict[str, Any]) -> dict[str, Any]:
        client = self._client(p.get("clientid"))
        modules = [m["module"] for m in self.state["paymentmethods"]]
        if p.get("paymentmethod") not in modules:
            raise ApiError(f"Invalid Payment Method. Valid options include {','.join(modules)}")
        names = p.get("domain") or {}
        if not isinstance(names, dict) or not names:
            raise ApiError("No items added to cart so order cannot proceed")
        order_id = self.new_id("orders")  # type: ignore[attr-defined]
        today = date.fromisoformat(self.now()[:10])  # type: ignore[attr-defined]
        domain_ids, lines = [], []
        for index, name in names.items():
            period = int((p.get("regperiod") or {}).get(index) or 1)
            kind = str((p.get("domaintype") or {}).get(index) or "register")
            domain_id = self.new_id("domains")  # type: ignore[attr-defined]
            self.state["domains"][domain_id] = {
                "id": domain_id, "userid": client["id"], "orderid": order_id,
                "regtype": "Transfer" if kind == "transfer" else "Register", "domainname": str(name).strip().lower(),
                "registrar": "", "regperiod": str(period), "firstpaymentamount": "12.95", "recurringamount": "12.95",
                "paymentmethod": p["paymentmethod"], "paymentmethodname": p["paymentmethod"],
                "regdate": today.isoformat(), "expirydate": _years_later(today, period).isoformat(),
                "nextduedate": today.isoformat(), "status": "Pending", "subscriptionid": "", "promoid": "0",
                "dnsmanagement": "0", "emailforwarding": "0", "idprotection": "0", "donotrenew": "0", "notes": ""}
            domain_ids.append(str(domain_id))
            lines.append((f"Domain Registration - {name} - {period} Year/s", "12.95"))
        self.state["orders"][order_id] = {"id": order_id, "userid": client["id"], "status": "Pending",
                                          "date": self.now(), "paymentmethod": p["paymentmethod"]}  # type: ignore[attr-defined]
        invoice_id = 0
        if not php_true(p.get("noinvoice")):
            params = {"userid": str(client["id"]), "paymentmethod": p["paymentmethod"]}
            for n, (description, amount) in enumerate(lines, start=1):
                params.update({f"itemdescription{n}": description, f"itemamount{n}": amount})
            invoice_id = int(self._api_createinvoice(params)["invoiceid"])
        self._log(f"Order Placed - Order ID: {order_id} - User ID: {client['id']}", client["id"])
        if not php_true(p.get("noemail")):
            self._email(client["email"], "Order Confirmation")
        return {"orderid": order_id, "serviceids": "", "addonids": "", "domainids": ",".join(domain_ids),
                "invoiceid": invoice_id}
