"""Deterministic sample data for the ISPConfig sandbox, made through the panel's own add functions."""

from __future__ import annotations

import random
from typing import Any

from .mapping import SITE_DEFAULTS
from .panel import Panel

_PEOPLE = [
    ("Zoë", "Ångström", "Nordlys Web AS", "NO", "Oslo", "", "0150"),
    ("José", "Muñoz", "Hosting Ibérico SL", "ES", "Sevilla", "Andalucía", "41001"),
    ("Siobhán", "O'Connor", "", "IE", "Cork", "", "T12 X70A"),
    ("Jürgen", "Weiß", "Weiß & Söhne GmbH", "DE", "München", "Bayern", "80331"),
    ("Amélie", "Lefèvre", "Atelier Lefèvre", "FR", "Lyon", "", "69002"),
    ("Łukasz", "Wróbel", "", "PL", "Kraków", "", "30-001"),
    ("Aiko", "Tanaka", "Tanaka Design", "JP", "Ōsaka", "", "530-0001"),
    ("Chloé", "Dubois", "", "CA", "Montréal", "QC", "H2X 1Y4"),
    ("Mia", "Nguyễn", "Phở & Code", "AU", "Melbourne", "VIC", "3000"),
    ("Oğuz", "Yılmaz", "Boğaziçi Medya", "TR", "İstanbul", "", "34000"),
    ("Ana", "Silva", "", "BR", "São Paulo", "SP", "01001-000"),
    ("Nils", "Björk", "Björk Hosting AB", "SE", "Göteborg", "", "411 01"),
    ("Priya", "Raman", "Raman Analytics", "IN", "Chennai", "TN", "600001"),
    ("Tomás", "Novák", "", "CZ", "Brno", "", "602 00"),
]
_TLDS = ["example", "test", "invalid"]


def sample_panel(seed: int) -> dict[str, Any]:
    """A panel with 14 clients (a few locked or cancelled), their domains and sites."""
    rng = random.Random(seed)
    clock = [1767225600.0]  # 2026-01-01
    panel = Panel(lambda: clock[0], rng)
    people = list(_PEOPLE)
    rng.shuffle(people)
    for number, (first, last, company, country, city, state, postcode) in enumerate(people, start=1):
        clock[0] += 86400 * rng.randint(1, 20)
        slug = "".join(ch for ch in last.lower() if ch.isascii() and ch.isalnum()) or f"client{number}"
        domain = f"{slug}{number}.{rng.choice(_TLDS)}"
        client_id = panel.client_add(0, {
            "company_name": company, "contact_firstname": first, "contact_name": last,
            "customer_no": f"C-{1000 + number}", "email": f"{slug}@{domain}",
            "street": f"{rng.randint(1, 200)} {rng.choice(['Main Street', 'Rue Haute', 'Hauptstraße', 'Via Roma'])}",
            "zip": postcode, "city": city, "state": state, "country": country,
            "telephone": f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            "username": f"{slug}{number}", "password": f"pw-{rng.getrandbits(40):x}", "language": "en",
            "usertheme": "default", "default_webserver": 1, "limit_web_domain": -1,
            "locked": "y" if number % 7 == 0 else "n", "canceled": "y" if number % 11 == 0 else "n",
        })
        for extra in range(rng.randint(1, 2)):
            name = domain if extra == 0 else f"{slug}-shop.{rng.choice(_TLDS)}"
            panel.domains_domain_add(client_id, {"domain": name})
            if rng.random() < 0.7:
                panel.sites_web_domain_add(client_id, {
                    **SITE_DEFAULTS, "domain": name, "php": rng.choice(["php-fpm", "fast-cgi", "no"]),
                    "ssl": rng.choice(["y", "n"]), "hd_quota": rng.choice([-1, 500, 1000, 5000]),
                    "active": "n" if rng.random() < 0.2 else "y"})
    return panel.dump()

