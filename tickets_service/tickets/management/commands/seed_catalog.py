"""``manage.py seed_catalog [--count N] [--seller-id UUID] [--without-events] [--seed S]``.

Realistic listings across categories and cities, so the storefront and search can be
tried at once (``make seed``). Each ticket is made like a seller's (``ticket.created`` in
the outbox, so the orders service can sell it); ``--without-events`` skips the events
for a bulk load that only the catalog needs (100,000 tickets for the search benchmark
take seconds rather than minutes).
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from ticketing_shared.events import publish
from ticketing_shared.events.schemas import TicketCreated
from tickets.models import Ticket
from tickets.services import _ticket_fields

BATCH = 500

CITIES = {
    "Berlin": ["Columbiahalle", "Olympiastadion", "Admiralspalast", "Tempodrom", "Uber Arena"],
    "London": ["O2 Academy Brixton", "Royal Albert Hall", "Wembley Stadium", "The Globe", "Hammersmith Apollo"],
    "Paris": ["Olympia", "Stade de France", "Bataclan", "Zenith Paris", "Theatre du Chatelet"],
    "Madrid": ["WiZink Center", "Santiago Bernabeu", "Teatro Real", "La Riviera"],
    "Amsterdam": ["Paradiso", "Ziggo Dome", "Johan Cruijff Arena", "Melkweg"],
    "Vienna": ["Staatsoper", "Stadthalle", "Konzerthaus", "Gasometer"],
    "Barcelona": ["Palau Sant Jordi", "Razzmatazz", "Camp Nou", "Liceu"],
    "Dublin": ["3Arena", "Vicar Street", "Aviva Stadium", "Gaiety Theatre"],
    "Lisbon": ["Coliseu dos Recreios", "Altice Arena", "Estadio da Luz"],
    "Prague": ["O2 Arena Prague", "Lucerna", "National Theatre"],
}
ACTS = {
    "concert": ["Arctic Monkeys", "Billie Eilish", "Coldplay", "Dua Lipa", "Radiohead", "The National",
                "Florence + the Machine", "Khruangbin", "Fontaines D.C.", "Berlin Philharmonic", "Norah Jones"],
    "sports": ["Champions League quarter-final", "Derby day", "Cup final", "Basketball: home opener",
               "Tennis: men's semi-final", "Rugby: Six Nations", "Ice hockey: play-offs"],
    "theatre": ["Hamlet", "Les Miserables", "The Lion King", "A Midsummer Night's Dream", "Cabaret",
                "The Phantom of the Opera", "Waiting for Godot", "La Traviata"],
    "comedy": ["Stand-up night", "Improv showcase", "Late-night comedy club", "Sketch show live"],
    "festival": ["Summer open-air festival", "Jazz weekend", "Electronic music festival", "Folk festival",
                 "Film and music days"],
    "other": ["Wine tasting evening", "Museum night", "Planetarium show", "Food market tour", "Design talk"],
}
SEATS = ["general admission", "standing", "row F, seat 12", "balcony, row 2", "front row", "block C, seat 31",
         "VIP lounge", "seated, aisle"]
WHY = ["Can't make it any more.", "Bought two by mistake.", "Selling at face value.", "Moving abroad.",
       "Great view of the stage.", "Includes the cloakroom."]
# Base prices per category; each listing varies around them.
PRICES = {"concert": 60, "sports": 75, "theatre": 55, "comedy": 25, "festival": 120, "other": 30}


def make_ticket(rng: random.Random, *, seller_ids: list[uuid.UUID], now) -> Ticket:
    category = rng.choices(list(ACTS), weights=[35, 20, 15, 10, 10, 10])[0]
    city = rng.choice(list(CITIES))
    act = rng.choice(ACTS[category])
    seat = rng.choice(SEATS)
    starts_at = (now + timedelta(days=rng.randint(1, 180))).replace(
        hour=rng.choice([14, 18, 19, 20, 21]), minute=rng.choice([0, 0, 30]), second=0, microsecond=0)
    price = Decimal(max(5, round(PRICES[category] * rng.uniform(0.4, 2.2)))) + rng.choice(
        [Decimal("0"), Decimal("0.50"), Decimal("0.99")])
    return Ticket(
        title=f"{act}, {seat}",
        price=price,
        user_id=rng.choice(seller_ids),
        starts_at=starts_at,
        venue=rng.choice(CITIES[city]),
        city=city,
        category=category,
        description=rng.choice(WHY),
    )


class Command(BaseCommand):
    help = "Fill the catalog with realistic listings (make seed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=300, help="How many tickets (default 300).")
        parser.add_argument("--seller-id", type=uuid.UUID, action="append", default=[],
                            help="A user to sell them (repeatable); default: 20 made-up sellers.")
        parser.add_argument("--without-events", action="store_true",
                            help="Skip ticket.created (a catalog-only bulk load: the orders service never hears).")
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for the same catalog twice.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, count: int, seller_id: list[uuid.UUID], without_events: bool, seed: int | None,
               no_progress: bool, **options) -> None:
        if count < 1:
            self.stderr.write("--count must be at least 1")
            return
        rng = random.Random(seed)
        sellers = seller_id or [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(20)]
        now = timezone.now()
        made = 0
        with tqdm(total=count, unit="ticket", desc="Seeding", disable=no_progress) as progress:
            while made < count:
                size = min(BATCH, count - made)
                with transaction.atomic():
                    tickets = Ticket.objects.bulk_create(
                        [make_ticket(rng, seller_ids=sellers, now=now) for _ in range(size)]
                    )
                    if not without_events:
                        for ticket in tickets:
                            publish(TicketCreated(**_ticket_fields(ticket)))
                made += size
                progress.update(size)
        suffix = " (no events)" if without_events else ""
        self.stdout.write(self.style.SUCCESS(f"{made} tickets listed{suffix}."))
