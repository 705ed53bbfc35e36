"""Deterministic sample data for the Blesta sandbox (the shape :meth:`Blesta.load` takes).

A small hosting company: clients in several countries with unicode names, paid/unpaid/draft/void
invoices with several lines, domain and hosting services (active, suspended, cancelled, pending),
Support Manager tickets with conversations, staff notes and logs, one ticket in the trash and one
whose opening reply never arrived (invisible in lists, as on a real Blesta).
"""

from __future__ import annotations

import random
from decimal import Decimal
from datetime import datetime, timedelta
from typing import Any

STAMP = "%Y-%m-%d %H:%M:%S"
BASE = datetime(2025, 1, 6, 9, 0, 0)

PEOPLE = [
    ("Amélie", "Dubois", "Atelier Dubois SARL", "FR", None, "Paris", "75011", "12 Rue Oberkampf", "+33.144556677"),
    ("Jürgen", "Schäfer", "Schäfer & Söhne GmbH", "DE", "BY", "München", "80331", "Marienplatz 8", "+49.8912345"),
    ("Siobhán", "O'Brien", "", "GB", None, "London", "EC1A 1BB", "1 St Martin's Le Grand", "+44.2079460000"),
    ("José", "Núñez", "Núñez Diseño", "ES", None, "Sevilla", "41001", "Calle Sierpes 4", ""),
    ("Mei", "Tanaka", "田中商事株式会社", "JP", None, "東京", "100-0001", "千代田1-1", "+81.312345678"),
    ("João", "Gonçalves", "", "BR", None, "São Paulo", "01310-100", "Av. Paulista 1000", "+55.1130000000"),
    ("Grace", "Okafor", "Okafor Web Studio", "US", "NY", "New York", "10001", "350 5th Ave", "+1.2125550100"),
    ("Liam", "Tremblay", "Érable Hosting Inc.", "CA", "QC", "Montréal", "H2X 1Y4", "200 Rue Sainte-Catherine", ""),
    ("Zoë", "Van der Berg", "", "US", "CA", "San Francisco", "94103", "1 Market St", "+1.4155550199"),
    ("Oğuz", "Yılmaz", "Yılmaz Bilişim", "DE", "BE", "Berlin", "10115", "Invalidenstraße 1", "+49.3055555"),
    ("Ana", "Kowalska", "", "GB", None, "Edinburgh", "EH1 1YZ", "High Street 5", "+44.1314960000"),
    ("Søren", "Ødegård", "Fjord Media ApS", "US", "WA", "Seattle", "98101", "400 Pine St", ""),
]

#: ISO 3166-2 subdivisions as Blesta's ``states`` table holds them (code without the country prefix);
#: a real Blesta has every country's, the sandbox those of the countries hosting businesses meet most.
STATES = [(country, code, name) for country, pairs in {
    "US": "AL Alabama|AK Alaska|AZ Arizona|AR Arkansas|CA California|CO Colorado|CT Connecticut|DE Delaware|"
          "DC District of Columbia|FL Florida|GA Georgia|HI Hawaii|ID Idaho|IL Illinois|IN Indiana|IA Iowa|"
          "KS Kansas|KY Kentucky|LA Louisiana|ME Maine|MD Maryland|MA Massachusetts|MI Michigan|MN Minnesota|"
          "MS Mississippi|MO Missouri|MT Montana|NE Nebraska|NV Nevada|NH New Hampshire|NJ New Jersey|"
          "NM New Mexico|NY New York|NC North Carolina|ND North Dakota|OH Ohio|OK Oklahoma|OR Oregon|"
          "PA Pennsylvania|RI Rhode Island|SC South Carolina|SD South Dakota|TN Tennessee|TX Texas|UT Utah|"
          "VT Vermont|VA Virginia|WA Washington|WV West Virginia|WI Wisconsin|WY Wyoming",
    "CA": "AB Alberta|BC British Columbia|MB Manitoba|NB New Brunswick|NL Newfoundland and Labrador|"
          "NS Nova Scotia|NT Northwest Territories|NU Nunavut|ON Ontario|PE Prince Edward Island|QC Québec|"
          "SK Saskatchewan|YT Yukon",
    "DE": "BW Baden-Württemberg|BY Bayern|BE Berlin|BB Brandenburg|HB Bremen|HH Hamburg|HE Hessen|"
          "MV Mecklenburg-Vorpommern|NI Niedersachsen|NW Nordrhein-Westfalen|RP Rheinland-Pfalz|SL Saarland|"
          "SN Sachsen|ST Sachsen-Anhalt|SH Schleswig-Holstein|TH Thüringen",
    "AU": "ACT Australian Capital Territory|NSW New South Wales|NT Northern Territory|QLD Queensland|"
          "SA South Australia|TAS Tasmania|VIC Victoria|WA Western Australia",
    "NL": "DR Drenthe|FL Flevoland|FR Fryslân|GE Gelderland|GR Groningen|LI Limburg|NB Noord-Brabant|"
          "NH Noord-Holland|OV Overijssel|UT Utrecht|ZE Zeeland|ZH Zuid-Holland",
    "ES": "M Madrid|B Barcelona|V Valencia|SE Sevilla|MA Málaga|BI Bizkaia",
    "SE": "AB Stockholms län|O Västra Götalands län|M Skåne län|C Uppsala län",
    "PL": "02 Dolnośląskie|12 Małopolskie|14 Mazowieckie|22 Pomorskie|24 Śląskie|30 Wielkopolskie",
    "FR": "ARA Auvergne-Rhône-Alpes|IDF Île-de-France|69 Rhône|75 Paris|13 Bouches-du-Rhône",
    "GB": "ENG England|SCT Scotland|WLS Wales|NIR Northern Ireland",
    "IE": "D Dublin|G Galway|C Cork",
    "ZA": "GP Gauteng|WC Western Cape|KZN KwaZulu-Natal",
    "BR": "SP São Paulo|RJ Rio de Janeiro|MG Minas Gerais",
    "JP": "13 Tokyo|27 Osaka|01 Hokkaido",
}.items() for code, name in (pair.split(" ", 1) for pair in pairs.split("|"))]

LINES = [
    ("Shared hosting — Starter (12 months)", "1", "59.88"), ("Domain registration: .com (1 year)", "1", "12.99"),
    ("SSL certificate — DV", "1", "19.00"), ("Managed backup add-on", "3", "4.50"),
    ("Support hours (overage)", "2.5", "45.00"), ("E-mail accounts ×5", "5", "1.20"),
    ("VPS — 2 vCPU / 4 GB", "1", "24.00"), ("Migration service", "1", "0.00"),
]

TICKETS = [
    ("Site down after DNS change", "high", "open",
     ["Hi, our site is unreachable since the DNS change this morning.",
      "We are looking into it — the A record still points to the old server.",
      "Thanks! Could you update it for us?"]),
    ("Facture en double ?", "medium", "awaiting_reply",
     ["Bonjour, j'ai reçu deux factures pour le même mois.",
      "Bonjour Amélie, la seconde est un avoir ; rien à payer."]),
    ("SSL renewal failed", "critical", "in_progress",
     ["The certificate expired last night, browsers show a warning.", "Reissuing now, ETA 30 minutes."]),
    ("Move mailboxes to new plan", "low", "on_hold", ["Please move the 5 mailboxes once the new plan is active."]),
    ("Umlaute im Betreff kaputt", "medium", "closed",
     ["Betreff-Zeilen mit Ä/Ö/Ü kommen verstümmelt an.", "Behoben: Zeichensatz auf UTF-8 gestellt.",
      "Funktioniert, danke!"]),
    ("Emergency: database wiped?", "emergency", "open",
     ["All tables in shop_db are empty!!", "Restoring last night's backup now."]),
    ("請求書の宛名変更", "low", "awaiting_reply", ["請求書の宛名を会社名に変更してください。", "変更しました。ご確認ください。"]),
]


def _at(days: float, hours: float = 0) -> str:
    return (BASE + timedelta(days=days, hours=hours)).strftime(STAMP)


def company_setup() -> dict[str, Any]:
    """A configured Blesta with no customers yet: the company, its client groups, currencies, states,
    packages, staff and Support Manager departments (what an empty sandbox holds)."""
    return {
        "config": {"company_id": 1, "timezone": "UTC", "tax_rate": None, "inv_start": 1000, "client_start": 1500,
                   "empty_list": "[]"},
        "currencies": ["USD", "EUR", "GBP"],
        "states": [{"country_alpha2": c, "code": code, "name": name} for c, code, name in STATES],
        "client_groups": [{"id": 1, "company_id": 1, "name": "General"}, {"id": 2, "company_id": 1, "name": "Resellers"}],
        "packages": [
            {"id": 1, "name": ".com registration", "module_id": 3, "type": "domain",
             "pricing": [{"id": 1, "term": 1, "period": "year", "price": "12.9900", "currency": "USD"}]},
            {"id": 2, "name": "Shared hosting — Starter", "module_id": 1, "type": "hosting",
             "pricing": [{"id": 2, "term": 1, "period": "month", "price": "4.9900", "currency": "USD"}]},
        ],
        "staff": [{"id": 1, "first_name": "Sam", "last_name": "Support", "email": "support@hostco.example",
                   "departments": [1, 2]},
                  {"id": 2, "first_name": "Bea", "last_name": "Billing", "email": "billing@hostco.example",
                   "departments": [2]}],
        "departments": [{"id": 1, "company_id": 1, "name": "Technical Support"},
                        {"id": 2, "company_id": 1, "name": "Billing"},
                        {"id": 3, "company_id": 2, "name": "Other company"}],
        # a text field of the General group, hidden from clients, made to keep hostsync's origin markers
        "client_fields": [{"id": 1, "client_group_id": 1, "name": "hostsync origin", "is_lang": 0, "type": "text",
                           "values": None, "regex": None, "show_client": 0, "encrypted": 0, "default": None,
                           "read_only": 1}],
        "users": [], "clients": [], "contacts": [], "numbers": [], "invoices": [], "transactions": [],
        "services": [], "tickets": [], "replies": [], "client_values": [],
    }


def sample_data(seed: int) -> dict[str, Any]:
    """A realistic company, the same for the same ``seed``."""
    rng = random.Random(seed)
    people = PEOPLE[:]
    rng.shuffle(people)
    data = company_setup()
    for index, (first, last, company, country, state, city, postcode, street, phone) in enumerate(people, start=1):
        email = f"{_ascii(first)}.{_ascii(last)}@example.{('com', 'de', 'fr', 'jp')[index % 4]}".lower()
        data["users"].append({"id": index, "username": email, "password": "", "date_added": _at(index)})
        status = "inactive" if index == 11 else "fraud" if index == 12 else "active"
        data["clients"].append({"id": index, "id_value": 1499 + index, "user_id": index,
                                "client_group_id": 2 if index % 5 == 0 else 1, "status": status, "contact_id": index,
                                "settings": {"default_currency": "EUR" if country in ("DE", "FR", "ES") else "USD",
                                             "language": "en_us", "inv_method": "email"}})
        data["contacts"].append({"id": index, "client_id": index, "contact_type": "primary", "first_name": first,
                                 "last_name": last, "title": None, "company": company or None, "email": email,
                                 "address1": street, "address2": "Suite 2" if index % 3 == 0 else None, "city": city,
                                 "state": state, "zip": postcode, "country": country, "date_added": _at(index)})
        if phone:
            data["numbers"].append({"id": len(data["numbers"]) + 1, "contact_id": index, "number": phone,
                                    "type": "phone", "location": "work" if company else "home"})
        if index % 4 == 0:
            data["numbers"].append({"id": len(data["numbers"]) + 1, "contact_id": index, "number": "+1.5550000000",
                                    "type": "fax", "location": "work"})
    _invoices(data, rng)
    _services(data, rng)
    _tickets(data, rng)
    return data


def _ascii(text: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded if ch.isalnum()) or "x"


def _invoices(data: dict[str, Any], rng: random.Random) -> None:
    statuses = ["paid", "unpaid", "paid", "draft", "void", "unpaid", "paid", "unpaid"]
    line_id = 0
    number = 1000
    for index in range(1, 17):
        client = data["clients"][(index * 5) % len(data["clients"])]
        status = statuses[index % len(statuses)]
        currency = client["settings"]["default_currency"]
        billed = _at(index * 9)
        lines = []
        for order in range(1 + index % 3):
            line_id += 1
            description, qty, amount = LINES[rng.randrange(len(LINES))]
            lines.append({"id": line_id, "service_id": None, "description": description, "qty": qty, "amount": amount,
                          "tax": False, "order": order})
        if status != "draft":
            number += 1
        invoice = {"id": index, "id_value": None if status == "draft" else number, "client_id": client["id"],
                   "date_billed": billed, "date_due": _at(index * 9 + 14), "date_closed": None, "date_autodebit": None,
                   "status": {"draft": "draft", "void": "void"}.get(status, "active"), "currency": currency,
                   "note_public": "", "note_private": "", "delivery": ["email"], "lines": lines}
        data["invoices"].append(invoice)
        total = sum(Decimal(l["qty"]) * Decimal(l["amount"]) for l in lines).quantize(Decimal("0.01"))
        if invoice["status"] == "active" and total == 0:  # Blesta closes what owes nothing
            invoice["date_closed"] = billed
        elif status == "paid":
            if total > 0:
                invoice["date_closed"] = _at(index * 9 + 3)
                data["transactions"].append({
                    "id": len(data["transactions"]) + 1, "client_id": client["id"], "amount": str(total),
                    "currency": currency, "type": "other", "status": "approved", "transaction_id": f"PAY-{index:04d}",
                    "date_added": _at(index * 9 + 3), "applied": [{"invoice_id": index, "amount": str(total)}]})


def _services(data: dict[str, Any], rng: random.Random) -> None:
    domains = ["dubois-atelier.fr", "schaefer-soehne.de", "obrien.co.uk", "nunez-diseno.es", "tanaka-shoji.jp",
               "goncalves.com.br", "okafor.studio", "érable-hosting.ca", "vanderberg.dev", "yilmaz-bilisim.de",
               "kowalska.uk", "fjord-media.com", "bücher-shop.de"]
    statuses = ["active", "active", "canceled", "suspended", "active", "pending", "active", "canceled", "active",
                "active", "in_review", "active", "active"]
    for index, name in enumerate(domains, start=1):
        client = data["clients"][index % len(data["clients"])]
        added = _at(-400 + index * 20)
        renews = _at(-30 + index * 45) if statuses[index - 1] != "canceled" else _at(-60 + index)
        data["services"].append({
            "id": index, "parent_service_id": None, "pricing_id": 1, "client_id": client["id"], "qty": 1,
            "status": statuses[index - 1], "date_added": added, "date_renews": renews,
            "date_suspended": _at(10) if statuses[index - 1] == "suspended" else None,
            "date_canceled": renews if statuses[index - 1] == "canceled" else None,
            "fields": [{"key": "domain", "value": name.encode("idna").decode() if not name.isascii() else name},
                       {"key": "ns1", "value": "ns1.hostco.example"}]})
    for offset in range(1, 4):  # hosting: services that are not domains
        data["services"].append({
            "id": len(domains) + offset, "parent_service_id": None, "pricing_id": 2, "client_id": offset,
            "qty": 1, "status": "active", "date_added": _at(offset), "date_renews": _at(offset + 30),
            "date_suspended": None, "date_canceled": None,
            "fields": [{"key": "cpanel_domain", "value": f"hosting{offset}.example.com"},
                       {"key": "cpanel_username", "value": f"user{offset}"}]})


def _tickets(data: dict[str, Any], rng: random.Random) -> None:
    reply_id = 0
    for index, (summary, priority, status, messages) in enumerate(TICKETS, start=1):
        client = data["clients"][(index * 3) % len(data["clients"])]
        department = 2 if "actur" in summary or "請求" in summary else 1
        opened = _at(index * 7, 1)
        data["tickets"].append({
            "id": index, "code": 7000000 + rng.randrange(100000, 999999), "department_id": department, "staff_id": None,
            "service_id": None, "client_id": client["id"], "email": None, "summary": summary, "priority": priority,
            "status": status, "date_added": opened, "date_updated": _at(index * 7, 1 + len(messages)),
            "date_closed": _at(index * 7, 1 + len(messages)) if status == "closed" else None})
        for position, body in enumerate(messages):
            reply_id += 1
            by_client = position % 2 == 0
            data["replies"].append({"id": reply_id, "ticket_id": index, "staff_id": None if by_client else 1,
                                    "client_id": client["id"] if by_client else None, "contact_id": None,
                                    "type": "reply", "details": body, "date_added": _at(index * 7, 1 + position)})
        if index % 3 == 1:
            reply_id += 1
            data["replies"].append({"id": reply_id, "ticket_id": index, "staff_id": 1, "client_id": None,
                                    "contact_id": None, "type": "note", "details": "Internal: check with the NOC.",
                                    "date_added": _at(index * 7, 1.5)})
            reply_id += 1
            data["replies"].append({"id": reply_id, "ticket_id": index, "staff_id": None, "client_id": None,
                                    "contact_id": None, "type": "log", "details": "Priority changed to high.",
                                    "date_added": _at(index * 7, 1.6)})
    trash = len(TICKETS) + 1
    data["tickets"].append({"id": trash, "code": 7999001, "department_id": 1, "staff_id": None, "service_id": None,
                            "client_id": 1, "email": None, "summary": "Spam: cheap watches", "priority": "low",
                            "status": "trash", "date_added": _at(3), "date_updated": _at(3), "date_closed": None})
    reply_id += 1
    data["replies"].append({"id": reply_id, "ticket_id": trash, "staff_id": None, "client_id": 1, "contact_id": None,
                            "type": "reply", "details": "Buy now!!!", "date_added": _at(3)})
    data["tickets"].append({"id": trash + 1, "code": 7999002, "department_id": 1, "staff_id": None, "service_id": None,
                            "client_id": 2, "email": None, "summary": "Opening reply lost", "priority": "low",
                            "status": "open", "date_added": _at(4), "date_updated": _at(4), "date_closed": None})
    data["tickets"].append({"id": trash + 2, "code": 7999003, "department_id": 1, "staff_id": None, "service_id": None,
                            "client_id": None, "email": "visitor@example.net", "summary": "Question before ordering",
                            "priority": "medium", "status": "open", "date_added": _at(5), "date_updated": _at(5),
                            "date_closed": None})
    reply_id += 1
    data["replies"].append({"id": reply_id, "ticket_id": trash + 2, "staff_id": None, "client_id": None,
                            "contact_id": None, "type": "reply", "details": "Do you offer .ch domains?",
                            "date_added": _at(5)})
