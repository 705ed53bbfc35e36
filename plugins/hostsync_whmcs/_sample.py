"""Deterministic sample data for the WHMCS sandbox: a small hosting business a few months old.

Unicode names and companies from several countries, clients active, inactive and closed, tickets
with several messages in several departments (one opened by a guest), paid, unpaid, draft,
cancelled, refunded and collections invoices with several lines, active, expired, pending, grace
and transferred domains (one IDN), and wbTeamPro projects with tasks, time logs and ticket links.
The seed varies phone numbers, amounts and times, never the shape.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

BASE = datetime(2025, 3, 10, 9, 0, 0)  # the sample's "today", in the server's local time

CLIENTS = [
    # first, last, company, email, address1, city, state, postcode, country, currency, status
    ("Zoë", "Ångström", "Nordlys AB", "zoe@nordlys.se", "Sveavägen 12", "Stockholm", "Stockholm", "111 57", "SE", 1, "Active"),
    ("José", "Núñez", "Núñez Hosting S.L.", "jose@nunez-hosting.es", "Calle de Alcalá 45", "Madrid", "Madrid", "28014", "ES", 1, "Active"),
    ("Łukasz", "Wójcik", "", "lukasz.wojcik@example.pl", "ul. Floriańska 3", "Kraków", "Małopolskie", "31-019", "PL", 1, "Active"),
    ("Chloé", "Dubois", "Boulangerie Dubois", "chloe@boulangerie-dubois.fr", "8 rue de la République", "Lyon", "Rhône", "69002", "FR", 1, "Active"),
    ("Jürgen", "Müller", "Müller Bäckerei GmbH", "juergen@mueller-baeckerei.de", "Brienner Straße 7", "München", "Bayern", "80333", "DE", 1, "Active"),
    ("太郎", "山田", "山田商事株式会社", "taro@yamada-shoji.jp", "千代田区丸の内1-1", "東京", "東京都", "100-0005", "JP", 2, "Active"),
    ("Aoife", "Ní Bhriain", "", "aoife@example.ie", "12 Shop Street", "Galway", "Galway", "H91 X2YZ", "IE", 1, "Active"),
    ("Sipho", "Dlamini", "Ubuntu Web (Pty) Ltd", "sipho@ubuntuweb.co.za", "14 Jan Smuts Ave", "Johannesburg", "Gauteng", "2196", "ZA", 2, "Active"),
    ("Emma", "van der Berg", "Tulp Media B.V.", "emma@tulpmedia.nl", "Oudegracht 101", "Utrecht", "Utrecht", "3511 AD", "NL", 1, "Active"),
    ("Mateus", "Conceição", "", "mateus@conceicao.com.br", "Rua Augusta 900", "São Paulo", "SP", "01304-001", "BR", 2, "Inactive"),
    ("Olivia", "Smith", "Smith & Daughters Ltd", "olivia@smithdaughters.co.uk", "4 Park Row", "Leeds", "West Yorkshire", "LS1 5HD", "GB", 3, "Closed"),
    ("Noah", "Williams", "", "noah.williams@example.com", "500 Congress Ave", "Austin", "TX", "78701", "US", 2, "Active"),
]

TICKETS = [
    # client (0 = guest), dept, subject, status, priority, messages (author: "c" client, "a" admin)
    (4, 1, "Website down after DNS change", "Answered", "High",
     [("c", "Since this morning our shop shows a DNS error.\r\nCan you check?"),
      ("a", "Hello Chloé,\r\n\r\nthe A record still pointed at the old server. Fixed now; allow an hour."),
      ("c", "Merci, it works again!")]),
    (1, 1, "Cannot receive e-mail on info@", "Customer-Reply", "Medium",
     [("c", "Mail to info@nordlys.se bounces with 550."), ("a", "The mailbox was over quota. Cleaned up."),
      ("c", "Still bouncing for some senders.")]),
    (2, 3, "Invoice question: double charge?", "Closed", "Low",
     [("c", "I see two charges for February."), ("a", "One was a failed capture and was refunded.")]),
    (5, 2, "Wie kann ich meine Domain übertragen?", "Open", "Medium",
     [("c", "Ich möchte müller-bäckerei.de zu Ihnen übertragen. Wie geht das?")]),
    (6, 1, "ログインできません", "In Progress", "High",
     [("c", "管理画面にログインできません。"), ("a", "パスワードをリセットしました。ご確認ください。"),
      ("c", "まだエラーが出ます。"), ("a", "Investigating with the developers.")]),
    (8, 1, "SSL certificate renewal failed", "On Hold", "Medium",
     [("c", "The Let's Encrypt renewal for ubuntuweb.co.za failed."),
      ("a", "Waiting for you to update the CAA record.")]),
    (9, 2, "Upgrade to VPS plan", "Answered", "Low",
     [("c", "We'd like to move to a VPS — what are the options?"), ("a", "Sent you a quote for VPS-2.")]),
    (3, 1, "Backup restore request", "Closed", "High",
     [("c", "Please restore public_html from last Sunday."), ("a", "Restored. Please check."),
      ("c", "All good, thanks.")]),
    (0, 2, "Question about reseller pricing", "Open", "Low",
     [("g", "Do you offer discounts for resellers with 50+ domains?")]),
    (12, 1, "Slow site in the evenings", "Open", "Medium",
     [("c", "Page loads take 8–10 s after 18:00 CST.")]),
]

INVOICES = [
    # client, status, days ago issued, invoicenum, taxrate, lines (description, amount, taxed)
    (1, "Paid", 70, "", "25.000", [("Shared Hosting Pro (01/01/2025 - 31/01/2025)", "14.95", 1),
                                   ("Extra storage 10 GB", "3.00", 1)]),
    (1, "Unpaid", 8, "", "25.000", [("Shared Hosting Pro (01/03/2025 - 31/03/2025)", "14.95", 1),
                                    ("Extra storage 10 GB", "3.00", 1)]),
    (2, "Paid", 40, "", "21.000", [("Reseller Hosting S (01/02/2025 - 28/02/2025)", "29.00", 1),
                                   ("Domain Renewal - nunez-hosting.es - 1 Year/s", "9.50", 0)]),
    (2, "Refunded", 38, "", "21.000", [("Reseller Hosting S (01/02/2025 - 28/02/2025)", "29.00", 1)]),
    (3, "Unpaid", 3, "", "0.000", [("Domain Registration - wojcik.pl - 1 Year/s", "11.00", 0)]),
    (4, "Paid", 55, "", "20.000", [("E-commerce Hosting (01/02/2025 - 28/02/2025)", "24.90", 1),
                                   ("SSL Certificate (1 year)", "39.00", 1), ("Setup fee", "0.00", 0)]),
    (4, "Draft", 0, "", "20.000", [("Website redesign — deposit", "450.00", 1)]),
    (5, "Collections", 95, "", "19.000", [("Managed WordPress (01/12/2024 - 31/12/2024)", "39.00", 1),
                                          ("Late fee", "5.00", 0)]),
    (5, "Unpaid", 12, "", "19.000", [("Managed WordPress (01/03/2025 - 31/03/2025)", "39.00", 1)]),
    (6, "Paid", 30, "", "0.000", [("VPS-2 (01/02/2025 - 28/02/2025)", "49.00", 0),
                                  ("Domain Renewal - yamada-shoji.jp - 1 Year/s", "45.00", 0)]),
    (8, "Cancelled", 60, "", "0.000", [("Shared Hosting Basic (01/01/2025 - 31/01/2025)", "5.95", 0)]),
    (9, "Paid", 20, "", "21.000", [("Shared Hosting Pro (01/02/2025 - 28/02/2025)", "14.95", 1),
                                   ("3 x Mailbox add-on", "6.00", 1)]),
    (11, "Cancelled", 120, "", "20.000", [("Shared Hosting Basic (01/11/2024 - 30/11/2024)", "5.95", 1)]),
    (12, "Unpaid", 1, "", "0.000", [("Cloud Server C1 (01/03/2025 - 31/03/2025)", "20.00", 0),
                                    ("Backup add-on", "4.00", 0), ("IPv4 address", "2.50", 0)]),
    (7, "Payment Pending", 5, "", "23.000", [("Shared Hosting Basic (01/03/2025 - 31/03/2025)", "5.95", 1)]),
]

DOMAINS = [
    # client, name, status, days since registration, registrar
    (1, "nordlys.se", "Active", 400, "enom"), (2, "nunez-hosting.es", "Active", 800, "enom"),
    (3, "wojcik.pl", "Pending", 3, ""), (4, "boulangerie-dubois.fr", "Active", 300, "ovh"),
    (5, "müller-bäckerei.de", "Pending Transfer", 2, ""), (6, "yamada-shoji.jp", "Active", 1500, "enom"),
    (8, "ubuntuweb.co.za", "Grace", 380, "enom"), (9, "tulpmedia.nl", "Active", 200, "ovh"),
    (10, "conceicao.com.br", "Expired", 420, "enom"), (11, "smithdaughters.co.uk", "Transferred Away", 900, "enom"),
]

PROJECTS = [
    # client, name, status, days ago started, days until due, details
    (4, "Website redesign", "Active", 20, 40, "New shop front with online ordering."),
    (5, "Shop migration to WooCommerce", "Active", 10, 60, "Move 1 200 products from Magento 1."),
    (1, "E-mail migration", "Completed", 90, -30, "Move mailboxes from on-premises Exchange."),
    (0, "Internal: server hardening", "On Hold", 45, 15, "CIS benchmark for the shared hosting nodes."),
]

ACTIONS = [
    # project index, name, status, percent, days until due
    (0, "Wireframes", "Completed", 100, -5), (0, "Design mock-ups", "In Progress", 60, 10),
    (0, "Build theme", "Open", 0, 30), (1, "Export catalogue", "Completed", 100, -2),
    (1, "Import and map categories", "In Progress", 30, 20), (1, "Redirects from old URLs", "Open", 0, 50),
    (2, "Migrate mailboxes", "Completed", 100, -40), (2, "Switch MX records", "Completed", 100, -35),
    (3, "SSH hardening", "Open", 0, 10), (3, "Kernel live patching", "Cancelled", 0, 5),
]


def _when(days_ago: float, rng: random.Random) -> str:
    moment = BASE - timedelta(days=days_ago, minutes=rng.randrange(0, 600))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def sample_state(seed: int, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` (an empty sandbox state) filled with the sample business for ``seed``."""
    rng = random.Random(seed)
    activity: list[dict[str, Any]] = []

    def log(date: str, description: str, client_id: int = 0, username: str = "jdoe") -> None:
        activity.append({"clientId": client_id, "userId": 0, "adminId": 2 if username == "jdoe" else 0,
                         "date": date, "description": description, "username": username, "ipaddress": "10.0.0.8"})

    clients = []
    for n, (first, last, company, email, address, city, state_, postcode, country, currency, status) in \
            enumerate(CLIENTS, start=1):
        created = _when(200 - n * 12, rng)
        clients.append({"id": n, "uuid": f"5a3b1c00-0000-4000-8000-{n:012d}", "firstname": first, "lastname": last,
                        "companyname": company, "email": email, "address1": address, "address2": "", "city": city,
                        "state": state_, "postcode": postcode, "country": country,
                        "phonenumber": f"+{rng.randrange(1, 99)}.{rng.randrange(10**8, 10**9)}",
                        "status": status, "datecreated": created[:10], "groupid": 0, "currency": currency,
                        "notes": "", "language": "", "tax_id": "", "password_set": True})
        log(created, f"Created Client {first} {last} - User ID: {n}", n)
    clients[2]["address2"] = "m. 4"
    log(_when(15, rng), "Client Profile Modified - Address 2: '' to 'm. 4' - User ID: 3", 3)

    tickets = []
    for n, (client_id, dept, subject, status, priority, messages) in enumerate(TICKETS, start=1):
        opened = BASE - timedelta(days=30 - n * 2, minutes=rng.randrange(0, 300))
        replies = []
        for index, (who, body) in enumerate(messages):
            at = (opened + timedelta(hours=index * 5, minutes=rng.randrange(0, 50))).strftime("%Y-%m-%d %H:%M:%S")
            guest = who == "g"
            replies.append({"replyid": index, "userid": client_id, "date": at, "message": body,
                            "admin": "Jane Doe" if who == "a" else "",
                            "name": "Priya Raman" if guest else "", "email": "priya@example.org" if guest else ""})
        tickets.append({"id": n, "tid": f"{rng.randrange(100000, 999999)}",
                        "c": "".join(rng.choice("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                                     for _ in range(8)),
                        "deptid": dept, "userid": client_id, "name": "Priya Raman" if not client_id else "",
                        "email": "priya@example.org" if not client_id else "", "date": replies[0]["date"],
                        "subject": subject, "status": status, "priority": priority, "admin": "",
                        "lastreply": replies[-1]["date"], "flag": 0, "replies": replies})
        log(replies[0]["date"], f"New Support Ticket Opened - Ticket ID: {n}", client_id, "System")

    invoices, item_id = [], 1
    for n, (client_id, status, days_ago, number, taxrate, lines) in enumerate(INVOICES, start=1):
        issued = BASE - timedelta(days=days_ago)
        created = _when(days_ago, rng)
        items = []
        for description, amount, taxed in lines:
            items.append({"id": item_id, "type": "Hosting" if "Hosting" in description else "", "relid": 0,
                          "description": description, "amount": amount, "taxed": bool(taxed)})
            item_id += 1
        paid = _when(days_ago - 2, rng) if status in ("Paid", "Refunded") else "0000-00-00 00:00:00"
        transactions = []  # a paid invoice was paid: its payment is recorded, so its balance is 0
        if status in ("Paid", "Refunded"):
            total = _total(items, taxrate)
            transactions.append({"id": n, "userid": client_id, "currency": 0, "gateway": "banktransfer",
                                 "date": paid, "description": f"Invoice Payment (#{n})", "amountin": total,
                                 "fees": "0.00", "amountout": total if status == "Refunded" else "0.00",
                                 "rate": "1.00000", "transid": f"BT-{20250000 + n}", "invoiceid": n, "refundid": 0})
        invoices.append({"id": n, "userid": client_id, "invoicenum": number or (f"2025-{n:04d}" if n % 3 == 0 else ""),
                         "date": issued.strftime("%Y-%m-%d"),
                         "duedate": (issued + timedelta(days=14)).strftime("%Y-%m-%d"), "datepaid": paid,
                         "status": status, "paymentmethod": "banktransfer", "notes": "", "taxrate": taxrate,
                         "taxrate2": "0.000", "credit": "0.00", "created_at": created,
                         "updated_at": paid if paid[0] != "0" else created, "items": items,
                         "transactions": transactions})
        log(created, f"Created Invoice - Invoice ID: {n}", client_id, "System")

    domains = []
    for n, (client_id, name, status, age, registrar) in enumerate(DOMAINS, start=1):
        registered = BASE - timedelta(days=age)
        years = max(1, -(-age // 365)) if status in ("Active",) else max(1, age // 365)
        expiry = registered.replace(year=registered.year + years)
        domains.append({"id": n, "userid": client_id, "orderid": n, "regtype": "Transfer" if "Transfer" in status
                        else "Register", "domainname": name, "registrar": registrar, "regperiod": "1",
                        "firstpaymentamount": "12.95", "recurringamount": "12.95", "paymentmethod": "banktransfer",
                        "paymentmethodname": "Bank Transfer", "regdate": registered.strftime("%Y-%m-%d"),
                        "expirydate": expiry.strftime("%Y-%m-%d"), "nextduedate": expiry.strftime("%Y-%m-%d"),
                        "status": status, "subscriptionid": "", "promoid": "0", "dnsmanagement": "0",
                        "emailforwarding": "0", "idprotection": "0", "donotrenew": "0", "notes": ""})

    projects = []
    for n, (client_id, name, status, started, due, details) in enumerate(PROJECTS, start=1):
        projects.append({"id": n, "project_name": name, "client_userid": client_id, "project_type": "Web",
                         "project_status": status, "project_details": details, "project_notes": "",
                         "date_start": (BASE - timedelta(days=started)).strftime("%Y-%m-%d 00:00:00"),
                         "date_finish": (BASE + timedelta(days=due)).strftime("%Y-%m-%d 00:00:00"),
                         "manager_adminid": 2, "assigned_adminid": 2, "project_complete": 0,
                         "date_created": _when(started + 1, rng), "date_modified": _when(started, rng)})
    actions = []
    for n, (project, name, status, percent, due) in enumerate(ACTIONS, start=1):
        actions.append({"id": n, "project_id": project + 1, "parent_id": 0, "action_name": name,
                        "action_type": "Task", "action_status": status, "action_complete": percent,
                        "action_priority": 0, "date_start": projects[project]["date_start"],
                        "date_finish": (BASE + timedelta(days=due)).strftime("%Y-%m-%d 00:00:00"),
                        "action_detail": "", "action_notes": "", "assigned_adminid": rng.choice((1, 2)),
                        "date_created": projects[project]["date_created"],
                        "date_modified": projects[project]["date_modified"]})
    timelogs = []
    for n in range(1, 13):
        action = actions[(n * 3) % len(actions)]
        start = BASE - timedelta(days=rng.randrange(1, 30), hours=rng.randrange(0, 8))
        start = start.replace(minute=rng.choice((0, 15, 30, 45)), second=0)
        elapsed = rng.choice((15, 30, 45, 60, 90, 120, 240)) * 60
        timelogs.append({"id": n, "project_id": action["project_id"], "action_id": action["id"], "ticket_id": 0,
                         "owner_adminid": rng.choice((1, 2)), "timelog_type": "Development",
                         "timelog_note": rng.choice(("Call with the client", "Implementation", "Review — round 2",
                                                     "Fehlersuche im Checkout", "")),
                         "date_start": start.strftime("%Y-%m-%d %H:%M:%S"),
                         "date_stop": (start + timedelta(seconds=elapsed)).strftime("%Y-%m-%d %H:%M:%S"),
                         "timelog_elapsed": elapsed, "billable": rng.choice((0, 1)), "timelog_status": "Complete",
                         "invoice_id": 0, "date_created": start.strftime("%Y-%m-%d %H:%M:%S"),
                         "date_modified": start.strftime("%Y-%m-%d %H:%M:%S")})
    xrefs = [{"id": 1, "project_id": 1, "action_id": 0, "ticket_id": 1, "date_created": tickets[0]["date"]},
             {"id": 2, "project_id": 2, "action_id": 4, "ticket_id": 4, "date_created": tickets[3]["date"]},
             {"id": 3, "project_id": 3, "action_id": 0, "ticket_id": 2, "date_created": tickets[1]["date"]}]

    for n in range(1, 6):  # the cron's daily noise: entries about no client at all
        log(_when(n, rng), "Cron Job: Check for Updates: No new updates available", 0, "System")
    activity.sort(key=lambda e: e["date"])
    for n, entry in enumerate(activity, start=1):
        entry["id"] = n

    return {**state, "clients": clients, "tickets": tickets, "invoices": invoices, "domains": domains,
            "orders": [], "activity": activity, "projects": projects, "actions": actions, "timelogs": timelogs,
            "ticketxrefs": xrefs}


def _total(items: list[dict[str, Any]], taxrate: str) -> str:
    """An invoice's total as WHMCS computes it (lines plus tax on the taxed ones)."""
    subtotal = sum((Decimal(i["amount"]) for i in items), Decimal("0"))
    taxed = sum((Decimal(i["amount"]) for i in items if i["taxed"]), Decimal("0"))
    tax = (taxed * Decimal(taxrate) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return str((subtotal + tax).quantize(Decimal("0.01")))
