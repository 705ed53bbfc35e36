"""Deterministic data for the ProWorkflow sandbox (the shape :meth:`Account.load` takes).

:func:`account_setup` is a freshly set-up account: the agency's own staff company and people (one of
them the API user hostsync logs in as) and the API fields that hold hostsync's origin markers.
:func:`sample_data` adds a small web agency's work: a few dozen client companies (some with their
e-mail only on a contact, countries as names or codes), active and completed projects with tasks,
time tracked by the staff over a quarter, and paid and unpaid invoices with heading, item, task-rate,
staff-rate and expense lines.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from .mapping import ORIGIN_FIELD

STAMP = "%Y-%m-%dT%H:%M:%S"
BASE = datetime(2025, 3, 3, 8, 30, 0)  # UTC
ORIGIN_TYPES = ("company", "contact", "project", "task", "time", "invoice")

STAFF = [  # first, last, e-mail, login
    ("Api", "Admin", "api@example.net", "hostsync"),
    ("Aroha", "Ngata", "aroha@harbourpine.example", None),
    ("Jane", "Doe", "jane@example.net", None),
    ("Tomás", "Ferreira", "tomas@harbourpine.example", None),
]

CLIENTS = [  # company, e-mail (None: on the contact only), phone, address1, city, state, zipcode, country, contact
    ("Kiwi Coffee Roasters Ltd", "hello@kiwicoffee.example", "+64 9 555 0101", "12 Ponsonby Rd", "Auckland", "",
     "1011", "New Zealand", ("Mere", "Tane")),
    ("Blue Fern Yoga", None, "+64 4 555 0102", "3 Cuba St", "Wellington", "", "6011", "NZ", ("Hana", "Kim")),
    ("Southern Cross Plumbing", "office@scplumbing.example", "+61 2 5550 0103", "88 George St", "Sydney", "NSW",
     "2000", "Australia", ("Liam", "O'Connor")),
    ("Müller & Söhne Bau GmbH", "info@mueller-bau.example", "+49 89 5550104", "Leopoldstraße 7", "München", "BY",
     "80802", "Germany", ("Jürgen", "Müller")),
    ("Atelier Dubois", "contact@atelier-dubois.example", "+33 1 55 50 01 05", "12 Rue Oberkampf", "Paris", "",
     "75011", "France", ("Amélie", "Dubois")),
    ("Harbourside Dental", "reception@harbourdental.example", "+64 3 555 0106", "5 Oxford Tce", "Christchurch", "",
     "8011", "New Zealand", ("Sam", "Patel")),
    ("Tāmaki Tours", None, "+64 9 555 0107", "1 Quay St", "Auckland", "", "1010", "NZ", ("Wiremu", "Parata")),
    ("Greenleaf Organics", "orders@greenleaf.example", "+44 20 5550 0108", "14 Camden High St", "London", "",
     "NW1 0JH", "United Kingdom", ("Siobhán", "O'Brien")),
    ("Núñez Diseño", "hola@nunez.example", "+34 954 555 109", "Calle Sierpes 4", "Sevilla", "", "41001", "ES",
     ("José", "Núñez")),
    ("Pacific Surf Co", "shop@pacificsurf.example", "+1 310 555 0110", "200 Ocean Ave", "Santa Monica", "CA",
     "90401", "USA", ("Kai", "Nakamura")),
    ("Fjord Media ApS", "studio@fjord.example", "+45 33 55 50 11", "Nyhavn 17", "København", "", "1051", "Denmark",
     ("Søren", "Ødegård")),
    ("Otago Wool Collective", "wool@otago.example", "", "9 Princes St", "Dunedin", "", "9016", "New Zealand",
     ("Ruth", "McKenzie")),
    ("Lakeside Physio", None, "+64 7 555 0113", "22 Lake Rd", "Rotorua", "", "3010", "New Zealand",
     ("Priya", "Singh")),
    ("Brightside Accounting", "team@brightside.example", "+61 3 5550 0114", "101 Collins St", "Melbourne", "VIC",
     "3000", "AU", ("Olivia", "Chen")),
    ("田中商事", "info@tanaka-shoji.example", "+81 3 5555 0115", "千代田1-1", "東京", "", "100-0001", "Japan",
     ("Mei", "Tanaka")),
    ("Coastal Kayak Hire", "paddle@coastalkayak.example", "+64 3 555 0116", "2 Beach Rd", "Kaikōura", "", "7300",
     "New Zealand", ("Ben", "Walker")),
    ("Van der Berg Architecten", "info@vdberg.example", "+31 20 555 0117", "Keizersgracht 100", "Amsterdam", "",
     "1015 CV", "Netherlands", ("Zoë", "van der Berg")),
    ("Mountain Bike Tours NZ", "ride@mtbtours.example", "+64 3 555 0118", "7 Shotover St", "Queenstown", "", "9300",
     "NZ", ("Ethan", "Brown")),
    ("Little Owl Childcare", None, "+64 6 555 0119", "45 Main St", "Palmerston North", "", "4410", "New Zealand",
     ("Grace", "Okafor")),
    ("Northwind Legal", "admin@northwind-legal.example", "+44 131 555 0120", "5 High St", "Edinburgh", "",
     "EH1 1YZ", "Scotland", ("Ana", "Kowalska")),
    ("Yılmaz Bilişim", "destek@yilmaz.example", "+49 30 5550121", "Invalidenstraße 1", "Berlin", "BE", "10115",
     "DE", ("Oğuz", "Yılmaz")),
    ("Riverside Bakery", "bread@riverside.example", "+64 9 555 0122", "30 River Rd", "Hamilton", "", "3204",
     "New Zealand", ("Lucy", "Martin")),
    ("Érable Hosting Inc.", "support@erable.example", "+1 514 555 0123", "200 Rue Sainte-Catherine", "Montréal",
     "QC", "H2X 1Y4", "Canada", ("Liam", "Tremblay")),
    ("Seaview Motel", "stay@seaview.example", "+64 6 555 0124", "1 Marine Pde", "Napier", "", "4110",
     "New Zealand", ("Tom", "Wilson")),
    ("Redwood Fitness", "gym@redwood.example", "+1 415 555 0125", "1 Market St", "San Francisco", "CA", "94103",
     "United States", ("Zara", "Ahmed")),
    ("Kōwhai Florists", None, "", "18 Victoria St", "Nelson", "", "7010", "New Zealand", ("Aria", "Rangi")),
]

PROJECTS = [  # title, tasks
    ("Website redesign", ("Discovery workshop", "Wireframes", "Visual design", "Build", "Content migration",
                          "Launch")),
    ("Online shop", ("Catalogue import", "Payment gateway", "Shipping rules", "Go live")),
    ("SEO audit", ("Technical crawl", "Keyword research", "Report")),
    ("Brand refresh", ("Mood boards", "Logo concepts", "Style guide")),
    ("Booking system", ("Requirements", "Calendar integration", "Testing", "Training")),
    ("Monthly care plan", ("Plugin updates", "Backups check", "Uptime report")),
    ("Email newsletter", ("Template", "List migration", "First send")),
    ("Hosting migration", ("Inventory", "DNS cut-over", "Post-move checks")),
]

NOTES = ("Client call", "Implementation", "Review — round 2", "Bug fixing", "Design tweaks", "Meeting notes",
         "Deploy", "")


def _stamp(moment: datetime) -> str:
    return moment.strftime(STAMP)


def account_setup() -> dict[str, Any]:
    """A set-up account without customers: the agency, its staff (the first is the API user) and the
    ``hostsync origin`` API fields."""
    companies = [{"id": 1, "name": "Harbour & Pine Digital", "type": "staff", "code": "HPD",
                  "email": "studio@harbourpine.example", "phone": "+64 9 555 0100", "address1": "1 Customs St",
                  "city": "Auckland", "zipcode": "1010", "country": "New Zealand", "pending": False,
                  "modified": _stamp(BASE - timedelta(days=400))}]
    contacts = []
    for n, (first, last, email, login) in enumerate(STAFF, start=1):
        contacts.append({"id": n, "companyid": 1, "type": "staff", "firstname": first, "lastname": last,
                         "email": email, "workphone": f"+64 9 555 01{n:02d}", "allowlogin": bool(login),
                         "username": login or "", "password": "pwf-sandbox-pw-5e81" if login else "",
                         "pending": False, "modified": _stamp(BASE - timedelta(days=400 - n))})
    apifields = [{"id": n, "name": ORIGIN_FIELD, "type": kind} for n, kind in enumerate(ORIGIN_TYPES, start=1)]
    apifields.append({"id": len(apifields) + 1, "name": "Region", "type": "company"})
    return {"config": {"timezone": "Pacific/Auckland", "tax_rate": "15"}, "apifields": apifields,
            "companies": companies, "contacts": contacts, "projects": [], "tasks": [], "time": [], "invoices": [],
            "counters": {}}


def sample_data(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    data = account_setup()
    companies, contacts = data["companies"], data["contacts"]
    staff_ids = [c["id"] for c in contacts]
    for n, (name, email, phone, address1, city, state, zipcode, country, person) in enumerate(CLIENTS, start=2):
        modified = BASE - timedelta(days=rng.randint(20, 300), minutes=rng.randint(0, 1440))
        companies.append({"id": n, "name": name, "type": "client", "code": name[:3].upper(), "email": email or "",
                          "phone": phone, "address1": address1, "address2": "", "address3": "", "city": city,
                          "state": state, "zipcode": zipcode, "country": country, "pending": False,
                          "modified": _stamp(modified),
                          "apifields": {"7": rng.choice(("North", "South", "Export"))}})
        domain = (email or f"info@{name.split()[0].lower()}.example").split("@", 1)[1]
        first, last = person
        contacts.append({"id": len(contacts) + 1, "companyid": n, "type": "client", "firstname": first,
                         "lastname": last, "email": f"{first.lower()}@{domain}".replace("é", "e"),
                         "workphone": phone, "allowlogin": False, "pending": False, "modified": _stamp(modified)})
        if rng.random() < 0.3:
            contacts.append({"id": len(contacts) + 1, "companyid": n, "type": "client", "firstname": "Accounts",
                             "lastname": "Team", "email": f"accounts@{domain}", "allowlogin": False,
                             "pending": False, "modified": _stamp(modified)})
    projects, tasks, time_records, invoices = data["projects"], data["tasks"], data["time"], data["invoices"]
    number = 0
    for company in companies[1:]:
        for _ in range(rng.choice((1, 1, 2))):
            number += 1
            title, steps = PROJECTS[(number * 3) % len(PROJECTS)]
            start = (BASE - timedelta(days=rng.randint(30, 200))).date()
            complete = rng.random() < 0.35
            manager = rng.choice(staff_ids[1:])
            projects.append({
                "id": number, "title": title, "number": f"P{number:05d}", "companyid": company["id"],
                "description": f"{title} for {company['name']}.", "status": "complete" if complete else "active",
                "startdate": start.isoformat(), "duedate": (start + timedelta(days=rng.randint(20, 90))).isoformat(),
                "completedate": (start + timedelta(days=60)).isoformat() if complete else None,
                "managerid": manager, "priority": rng.randint(1, 5), "staff": ",".join(map(str, sorted({manager, 3}))),
                "clients": "", "contractors": "", "modified": _stamp(BASE - timedelta(days=rng.randint(1, 30),
                                                                                       minutes=rng.randint(0, 600)))})
            for order, step in enumerate(steps, start=1):
                done = complete or rng.random() < 0.4
                task_id = len(tasks) + 1
                tasks.append({"id": task_id, "projectid": number, "name": step, "description": "",
                              "status": "complete" if done else "active", "type": "normal", "order": order,
                              "priority": 3, "billable": True, "contacts": str(rng.choice(staff_ids[1:])),
                              "startdate": start.isoformat(),
                              "duedate": (start + timedelta(days=7 * order)).isoformat(),
                              "completedate": (start + timedelta(days=7 * order)).isoformat() if done else None,
                              "modified": projects[-1]["modified"]})
                for _ in range(rng.randint(0, 3)):
                    worked = date(2025, 1, 1) + timedelta(days=rng.randint(0, 58))
                    hour = rng.randint(8, 16)
                    minutes = rng.choice((15, 30, 45, 60, 90, 120, 180))
                    started = datetime.combine(worked, datetime.min.time()).replace(hour=hour)
                    time_records.append({
                        "id": len(time_records) + 1, "taskid": task_id, "contactid": rng.choice(staff_ids[1:]),
                        "date": worked.isoformat(), "starttime": started.strftime("%H:%M"),
                        "endtime": (started + timedelta(minutes=minutes)).strftime("%H:%M"),
                        "timetracked": minutes, "notes": rng.choice(NOTES), "billable": rng.random() < 0.8,
                        "modified": _stamp(datetime.combine(worked, datetime.min.time()) + timedelta(hours=20))})
            if complete or rng.random() < 0.3:
                client_contact = next(c for c in contacts if c["companyid"] == company["id"])
                invoiced = start + timedelta(days=45)
                paid = complete and rng.random() < 0.8
                invoices.append({
                    "id": len(invoices) + 1, "number": f"INV-{1000 + len(invoices) + 1:05d}",
                    "title": f"{title} — stage {len(invoices) % 3 + 1}", "companyid": company["id"],
                    "contactid": client_contact["id"], "projectid": number, "status": "paid" if paid else "unpaid",
                    "invoiceddate": invoiced.isoformat(), "duedate": (invoiced + timedelta(days=20)).isoformat(),
                    "paiddate": (invoiced + timedelta(days=12)).isoformat() if paid else None, "taxable": True,
                    "lines": _lines(rng, title), "modified": _stamp(datetime.combine(invoiced, datetime.min.time()))})
    data["counters"] = {"project": number, "invoice": 1000 + len(invoices)}
    return data


def _lines(rng: random.Random, title: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [{"type": "heading", "name": title}]
    lines.append({"type": "lineitem", "name": "Design and build", "description": "", "quantity": "1",
                  "rate": str(rng.choice((1200, 2400, 3600))) + ".00", "taxable": True})
    if rng.random() < 0.6:
        lines.append({"type": "taskrate", "name": "Development", "description": "", "time": rng.choice((90, 120, 240)),
                      "rate": "120.00", "taxable": True})
    if rng.random() < 0.4:
        lines.append({"type": "staffrate", "name": "Jane Doe", "description": "", "time": 60, "rate": "95.00",
                      "taxable": True})
    if rng.random() < 0.3:
        lines.append({"type": "expense", "name": "Stock photos", "description": "", "quantity": "3",
                      "rate": "15.00", "taxable": False})
    for n, line in enumerate(lines, start=1):
        line.update(id=n, displayorder=n)
    return lines
