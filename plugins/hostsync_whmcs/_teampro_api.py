"""The wbTeamPro half of the sandbox: ``…/modules/addons/wbteampro/api.php`` (FACTS.md §2).

A request names a resource chain (``action=v1.projects.219.whmcstickets.json``, or the same chain as
a path), an operation (the HTTP verb or ``method=get|put|post|delete``) and ``params`` (a JSON
string or a form array). Every request carries ``username`` and ``password`` (md5); a failed
login counts against the caller's IP, which is banned after three. Answers are
``{"request": {action, method, format, code, message}, "response": {...}}``; operation names for
call counts and faults are the vendor's method names (``findProjects``, ``createTicketXref``...).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any, Mapping
from xml.sax.saxutils import escape

from hostsync.sandbox import Request, Response

#: resource -> (plural, singular) as the vendor's method names spell them, and its id field.
RESOURCES = {
    "projects": ("Projects", "Project", "project_id"), "actions": ("Actions", "Action", "action_id"),
    "timelogs": ("Timelogs", "Timelog", "timelog_id"), "ticketxrefs": ("TicketXrefs", "TicketXref", "xref_id"),
    "whmcstickets": ("WHMCSTickets", "WHMCSTicket", "id"), "topics": ("Topics", "Topic", "topic_id"),
    "files": ("Files", "File", "file_id"),
}
SUBRESOURCES = {"actions": "Actions", "topics": "Topics", "files": "Files", "whmcstickets": "Tickets",
                "timelogs": "Timelogs"}
SINGULAR = {"projects": "project", "actions": "action", "timelogs": "timelog", "ticketxrefs": "ticketxref",
            "whmcstickets": "whmcsticket", "topics": "topic", "files": "file"}
#: Filters each list takes in ``params``.
FILTERS = {
    "projects": ("client_userid", "project_status", "project_type"),
    "actions": ("project_id", "parent_id", "action_status"),
    "timelogs": ("project_id", "action_id", "ticket_id", "owner_adminid"),
    "ticketxrefs": ("project_id", "ticket_id", "action_id"),
    "whmcstickets": ("project_id", "userid", "ticket_id"),
}
#: Fields a create or update may set, with their type.
WRITABLE = {
    "projects": {"project_name": str, "client_userid": int, "project_type": str, "project_status": str,
                 "project_details": str, "project_notes": str, "date_start": str, "date_finish": str,
                 "manager_adminid": int, "assigned_adminid": int, "project_complete": int},
    "actions": {"project_id": int, "parent_id": int, "action_name": str, "action_type": str, "action_status": str,
                "action_complete": int, "action_priority": int, "date_start": str, "date_finish": str,
                "action_detail": str, "action_notes": str, "assigned_adminid": int},
    "timelogs": {"project_id": int, "action_id": int, "ticket_id": int, "owner_adminid": int, "timelog_type": str,
                 "timelog_note": str, "date_start": str, "date_stop": str, "timelog_elapsed": int, "billable": int},
    "ticketxrefs": {"project_id": int, "action_id": int, "ticket_id": int},
}
REQUIRED = {"projects": ("project_name",), "actions": ("project_id", "action_name"),
            "timelogs": ("owner_adminid", "date_start"), "ticketxrefs": ("project_id", "ticket_id")}
ZERO_DATE = "0000-00-00 00:00:00"
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$")


class TeamProError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def invalid(field: str) -> TeamProError:
    return TeamProError(400, f"The value provide for {field} is invalid or not allowed.")


class TeamProApi:
    """Mixin of :class:`~hostsync_whmcs.sandbox.WhmcsSandbox` answering the wbTeamPro API."""

    state: dict[str, Any]

    # -- routing ------------------------------------------------------------------------------

    def _chain(self, request: Request, p: Mapping[str, Any]) -> tuple[list[str], str] | None:
        if p.get("action"):
            parts = str(p["action"]).split(".")
        else:
            path = request.path
            for prefix in ("/modules/addons/wbteampro/api.php", "/modules/addons/wbteampro/api"):
                if path.startswith(prefix):
                    rest = path[len(prefix):].strip("/")
                    parts = rest.split("/") if rest else []
                    break
            else:
                return None
        if len(parts) < 3 or not re.fullmatch(r"v\d+", parts[0]) or parts[-1] not in ("json", "xml"):
            return None
        return parts[1:-1], parts[-1]

    def _route(self, chain: list[str], method: str) -> str | None:
        """The vendor's method name for a chain and verb, or ``None``."""
        if chain == ["api", "resources"] and method == "GET":
            return "findResources"
        if chain == ["config"] and method == "GET":
            return "getConfig"
        if not chain or chain[0] not in RESOURCES:
            return None
        plural, singular, _ = RESOURCES[chain[0]]
        if len(chain) == 2 and chain[1] == "bythread" and chain[0] in ("topics", "files") and method == "GET":
            return f"find{singular}Threads"
        if len(chain) == 1:
            return {"GET": f"find{plural}", "POST": f"create{singular}"}.get(method)
        if not chain[1].isdigit():
            return None
        if len(chain) == 2:
            return {"GET": f"get{singular}", "PUT": f"update{singular}", "DELETE": f"delete{singular}"}.get(method)
        if len(chain) == 3 and chain[0] in ("projects", "actions") and chain[2] in SUBRESOURCES and method == "GET":
            return f"get{singular}{SUBRESOURCES[chain[2]]}"
        return None

    def teampro_operation(self, request: Request, p: Mapping[str, Any]) -> str:
        parsed = self._chain(request, p)
        method = str(p.get("method") or request.method).upper()
        return (self._route(parsed[0], method) if parsed else None) or "wbteampro:invalid"

    def teampro(self, request: Request, p: dict[str, Any]) -> Response:
        parsed = self._chain(request, p)
        chain, fmt = parsed or ([], "json")
        method = str(p.get("method") or request.method).upper()
        try:
            admin = self.admin_by_login(str(p.get("username") or ""), str(p.get("password") or ""))  # type: ignore[attr-defined]
            if admin is None:
                self.record_failed_login(request.client)  # type: ignore[attr-defined]
                raise TeamProError(401, "Authentication Failed")
            if not admin.get("teampro"):
                raise TeamProError(403, "Your Administrator Role is Not Permitted to Access wbTeamPro")
            operation = self._route(chain, method) if parsed else None
            if operation is None:
                raise TeamProError(400, "Request Invalid or Bad Format")
            params = self._params(p)
            response = self._dispatch(operation, chain, params)
        except TeamProError as exc:
            return self._envelope(chain, method, fmt, exc.code, str(exc), None)
        return self._envelope(chain, method, fmt, 200, "Success", response)

    @staticmethod
    def _params(p: Mapping[str, Any]) -> dict[str, Any]:
        raw = p.get("params")
        if raw is None or raw == "":
            return {}
        if isinstance(raw, dict):
            return dict(raw)
        try:
            value = json.loads(str(raw))
        except ValueError:
            raise TeamProError(400, "Request Invalid or Bad Format") from None
        if not isinstance(value, dict):
            raise TeamProError(400, "Request Invalid or Bad Format")
        return value

    def _envelope(self, chain: list[str], method: str, fmt: str, code: int, message: str,
                  response: Any) -> Response:
        body = {"request": {"action": "/".join(chain), "method": method, "format": fmt, "code": code,
                            "message": message}, "response": response}
        if fmt == "xml":
            return Response.text(f'<?xml version="1.0" encoding="UTF-8"?>\n{_xml("wbteampro", body)}', code,
                                 "text/xml; charset=utf-8")
        return Response.json(body, code)

    # -- operations ---------------------------------------------------------------------------

    def _dispatch(self, operation: str, chain: list[str], params: dict[str, Any]) -> Any:
        if operation == "findResources":
            return {"resources": sorted(RESOURCES) + ["config"]}
        if operation == "getConfig":
            return {"config": {"project_status": self.state["project_statuses"],
                               "action_status": self.state["action_statuses"]}}
        resource = chain[0]
        if resource in ("topics", "files"):  # not emulated beyond empty lists
            if operation.startswith("find"):
                return self._list(resource, [], params)
            raise TeamProError(404, "Record Not Found")
        if len(chain) == 1:
            if operation.startswith("find"):
                return self._list(resource, self._rows(resource), params)
            return {SINGULAR[resource]: self._out(resource, self._create(resource, params))}
        row = self._get(resource, int(chain[1]))
        if len(chain) == 3:
            sub = chain[2]
            key = "project_id" if resource == "projects" else "action_id"
            rows = [r for r in self._rows(sub) if r.get(key) == row["id"]] if sub not in ("topics", "files") else []
            return {SINGULAR[resource]: self._out(resource, row), **self._list(sub, rows, params)}
        if operation.startswith("update"):
            if resource == "whmcstickets":
                raise TeamProError(400, "Request Invalid or Bad Format")
            row = self._write(resource, row, params)
        elif operation.startswith("delete"):
            self._delete(resource, row)
            return {SINGULAR[resource]: {RESOURCES[resource][2]: row["id"]}}
        return {SINGULAR[resource]: self._out(resource, row)}

    def _rows(self, resource: str) -> list[dict[str, Any]]:
        if resource == "whmcstickets":
            xrefs = {x["ticket_id"]: x for x in self.state["ticketxrefs"].values()}
            return [{**self._whmcs_ticket(t), "project_id": (xrefs.get(t["id"]) or {}).get("project_id")}
                    for t in sorted(self.state["tickets"].values(), key=lambda t: t["id"])]
        return sorted(self.state[resource].values(), key=lambda r: r["id"])

    def _whmcs_ticket(self, t: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": t["id"], "tid": t["tid"], "userid": t["userid"], "deptid": t["deptid"],
                "subject": t["subject"], "status": t["status"], "priority": t["priority"], "date": t["date"],
                "lastreply": t["lastreply"], "ticket_id": t["id"]}

    def _get(self, resource: str, id: int) -> dict[str, Any]:
        if resource == "whmcstickets":
            rows = {r["id"]: r for r in self._rows("whmcstickets")}
        else:
            rows = self.state[resource]
        if id not in rows:
            raise TeamProError(404, "Record Not Found")
        return rows[id]

    def _out(self, resource: str, row: Mapping[str, Any]) -> dict[str, Any]:
        if resource == "whmcstickets":
            xref = next((x for x in self.state["ticketxrefs"].values() if x["ticket_id"] == row["id"]), None)
            out = {k: v for k, v in row.items() if k not in ("project_id", "ticket_id")}
            return {**out, "ticketxref": self._out("ticketxrefs", xref) if xref else None}
        return {RESOURCES[resource][2]: row["id"], **{k: v for k, v in row.items() if k != "id"}}

    def _list(self, resource: str, rows: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
        filters = {}
        for key in FILTERS.get(resource, ()):
            value = params.get(key)
            if value not in (None, ""):
                filters[key] = int(value) if str(value).isdigit() else value
                rows = [r for r in rows if str(r.get(key)) == str(value)]
        try:
            limit = max(int(params.get("limit") or 50), 1)
            page = max(int(params.get("page") or 1), 1)
            offset = int(params["offset"]) if params.get("offset") not in (None, "") else (page - 1) * limit
        except (TypeError, ValueError):
            raise TeamProError(400, "Request Invalid or Bad Format") from None
        chunk = rows[offset:offset + limit]
        data = {"total": len(rows), "page": offset // limit + 1, "pages": len(rows) // limit, "limit": limit,
                "offset": offset, "filters": filters}
        return {"data": data, resource: [self._out(resource, r) for r in chunk]}

    def _coerce(self, resource: str, params: Mapping[str, Any]) -> dict[str, Any]:
        values = {}
        for key, kind in WRITABLE[resource].items():
            if key not in params:
                continue
            value = params[key]
            try:
                values[key] = kind(value) if kind is str else int(value or 0)
            except (TypeError, ValueError):
                raise invalid(key) from None
            if key.startswith("date_") and values[key] and not _DATETIME.match(values[key]):
                raise invalid(key)
        return values

    def _check(self, resource: str, row: dict[str, Any]) -> None:
        """Reference and vocabulary checks; raise the vendor's "invalid value" error."""
        state = self.state
        if resource == "projects":
            if row.get("client_userid") and row["client_userid"] not in state["clients"]:
                raise invalid("client_userid")
            if row.get("project_status") not in state["project_statuses"]:
                raise invalid("project_status")
        if resource in ("actions", "timelogs", "ticketxrefs") and row.get("project_id") \
                and row["project_id"] not in state["projects"]:
            raise invalid("project_id")
        if resource == "actions" and row.get("action_status") not in state["action_statuses"]:
            raise invalid("action_status")
        if resource in ("timelogs", "ticketxrefs") and row.get("action_id"):
            action = state["actions"].get(row["action_id"])
            if action is None or (row.get("project_id") and action["project_id"] != row["project_id"]):
                raise invalid("action_id")
        if resource == "timelogs":
            if not any(a["id"] == row.get("owner_adminid") for a in state["admins"]):
                raise invalid("owner_adminid")
            if not row.get("project_id"):
                raise TeamProError(400, "The required data was not provided")
        if resource == "ticketxrefs":
            if row.get("ticket_id") not in state["tickets"]:
                raise invalid("ticket_id")
            if any(x["ticket_id"] == row["ticket_id"] and x["id"] != row.get("id") for x in state["ticketxrefs"].values()):
                raise invalid("ticket_id")

    def _create(self, resource: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if resource == "whmcstickets":
            raise TeamProError(400, "Request Invalid or Bad Format")
        values = self._coerce(resource, params)
        if any(not values.get(key) for key in REQUIRED[resource]):
            raise TeamProError(400, "The required data was not provided")
        now = self.now()  # type: ignore[attr-defined]
        defaults: dict[str, Any] = {
            "projects": {"project_name": "", "client_userid": 0, "project_type": "", "project_details": "",
                         "project_status": self.state["project_statuses"][0], "project_notes": "",
                         "date_start": now, "date_finish": ZERO_DATE, "manager_adminid": 0, "assigned_adminid": 0,
                         "project_complete": 0},
            "actions": {"parent_id": 0, "action_type": "Task", "action_status": self.state["action_statuses"][0],
                        "action_complete": 0, "action_priority": 0, "date_start": now, "date_finish": ZERO_DATE,
                        "action_detail": "", "action_notes": "", "assigned_adminid": 0},
            "timelogs": {"project_id": 0, "action_id": 0, "ticket_id": 0, "timelog_type": "", "timelog_note": "",
                         "date_stop": ZERO_DATE, "timelog_elapsed": 0, "billable": 1,
                         "timelog_status": "Complete", "invoice_id": 0},
            "ticketxrefs": {"action_id": 0},
        }[resource]
        row = {**defaults, **values}
        if resource == "timelogs":
            row = self._timelog(row, values)
        self._check(resource, row)
        row_id = self.new_id(resource)  # type: ignore[attr-defined]
        row = {"id": row_id, **row, "date_created": now, "date_modified": now}
        self.state[resource][row_id] = row
        return row

    def _timelog(self, row: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """A timelog on an action belongs to the action's project; elapsed and stop agree."""
        if row.get("action_id") and not row.get("project_id") and row["action_id"] in self.state["actions"]:
            row["project_id"] = self.state["actions"][row["action_id"]]["project_id"]
        start = _parse(row.get("date_start"))
        if start and "timelog_elapsed" in values:
            row["date_stop"] = (start + timedelta(seconds=row["timelog_elapsed"])).strftime("%Y-%m-%d %H:%M:%S")
        elif start and _parse(row.get("date_stop")):
            row["timelog_elapsed"] = int((_parse(row["date_stop"]) - start).total_seconds())  # type: ignore[operator]
        return row

    def _write(self, resource: str, row: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        values = self._coerce(resource, params)
        updated = {**row, **values}
        if resource == "timelogs":
            updated = self._timelog(updated, values)
        self._check(resource, updated)
        updated["date_modified"] = self.now()  # type: ignore[attr-defined]
        row.update(updated)
        return row

    def _delete(self, resource: str, row: Mapping[str, Any]) -> None:
        """Deleting a project takes its actions, timelogs and ticket links with it."""
        state = self.state
        del state[resource][row["id"]]
        if resource == "projects":
            for table in ("actions", "timelogs", "ticketxrefs"):
                state[table] = {k: v for k, v in state[table].items() if v.get("project_id") != row["id"]}
        if resource == "actions":
            for table in ("timelogs", "ticketxrefs"):
                for other in state[table].values():
                    if other.get("action_id") == row["id"]:
                        other["action_id"] = 0


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value and not str(value).startswith("0000") else None
    except ValueError:
        return None


def _xml(tag: str, value: Any) -> str:
    if isinstance(value, dict):
        return f"<{tag}>{''.join(_xml(k, v) for k, v in value.items())}</{tag}>"
    if isinstance(value, list):
        return f"<{tag}>{''.join(_xml('item', v) for v in value)}</{tag}>"
    return f"<{tag}>{escape('' if value is None else str(value))}</{tag}>"
