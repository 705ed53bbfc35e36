"""One sample record per canonical kind, shared by the contract suites of the built-in connectors."""

CLIENT = {"email": "ann.lee@example.com", "first_name": "Ann", "last_name": "Lee", "company": "Lee Design",
          "phone": "+31 20 555 0101", "address1": "Keizersgracht 1", "address2": "2nd floor", "city": "Amsterdam",
          "state": "Noord-Holland", "postcode": "1015 CJ", "country": "NL", "status": "active"}
DOMAIN = {"name": "lee-design.example", "client": "@client", "status": "active", "registered_on": "2025-03-01",
          "expires_on": "2027-03-01"}
SITE = {"domain": "www.lee-design.example", "client": "@client", "status": "active", "php": "php-fpm", "ssl": True,
        "quota_mb": 500}
INVOICE = {"number": "INV-7001", "client": "@client", "issued_on": "2026-02-01", "due_on": "2026-02-15",
           "status": "unpaid", "currency": "EUR",
           "lines": [{"description": "Hosting, February", "quantity": "1", "unit_price": "12.50", "taxed": False},
                     {"description": "Domain renewal", "quantity": "1", "unit_price": "9.95", "taxed": False}],
           "total": "22.45"}
TICKET = {"subject": "Mail does not arrive", "client": "@client", "status": "open", "priority": "medium",
          "department": "Technical Support",
          "messages": [{"author": "ann.lee@example.com", "body": "Since this morning no mail arrives.",
                        "created_at": "2026-02-03T09:15:00Z"}],
          "created_at": "2026-02-03T09:15:00Z"}
PROJECT = {"name": "Website redesign", "client": "@client", "status": "active", "start_on": "2026-02-01",
           "due_on": "2026-04-30", "description": "New templates and a shop."}
TASK = {"name": "Draft the templates", "project": "@project", "status": "open", "description": "Three layouts.",
        "due_on": "2026-03-01", "priority": "high"}
TIME_ENTRY = {"project": "@project", "task": "@task", "member": "jane@example.net",
              "started_at": "2026-02-04T10:00:00Z", "minutes": 90, "note": "Layout sketches", "billable": True}
ALL = {"client": CLIENT, "domain": DOMAIN, "site": SITE, "invoice": INVOICE, "ticket": TICKET, "project": PROJECT,
       "task": TASK, "time_entry": TIME_ENTRY}
#: What the update checks change where the suite finds no text field to change.
EDITS = {"invoice": {"due_on": "2026-03-01"}}
