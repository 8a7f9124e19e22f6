"""A small "movie booking" call chain the ingest benchmark crashes on purpose.

The real sentry-sdk captures these crashes, so the events it produces look like an
application's: about twenty in-app frames, each with locals and context lines.
"""

from __future__ import annotations

from typing import Any

ERRORS: list[type[Exception]] = [ValueError, KeyError, TimeoutError, ZeroDivisionError, LookupError]


class Basket:
    def __init__(self, user: str, seats: list[str]) -> None:
        self.user = user
        self.seats = seats
        self.prices = {seat: 12.5 + i for i, seat in enumerate(seats)}
        self.notes = f"basket of {user} with {len(seats)} seats for the 20:15 show"


def load_basket(depth: int, variant: int, basket: Basket, trail: list[str]) -> Any:
    session = {"id": f"sess-{depth}-{variant}", "locale": "de-DE", "seats": basket.seats}
    trail.append(f"load_basket:{depth}")
    return price_seats(depth + 1, variant, basket, trail, session)


def price_seats(
    depth: int, variant: int, basket: Basket, trail: list[str], session: dict[str, Any]
) -> Any:
    total = sum(basket.prices.values())
    currency = "EUR"
    trail.append(f"price_seats:{depth}:{total}{currency}")
    return apply_discount(depth + 1, variant, basket, trail, total)


def apply_discount(depth: int, variant: int, basket: Basket, trail: list[str], total: float) -> Any:
    code = f"WINTER{variant:02d}"
    discount = 0.1 if variant % 2 else 0.0
    trail.append(f"apply_discount:{depth}:{code}")
    return reserve_seats(depth + 1, variant, basket, trail, total * (1 - discount))


def reserve_seats(depth: int, variant: int, basket: Basket, trail: list[str], amount: float) -> Any:
    hall = {"name": "Saal 3", "rows": 14, "free": [s for s in basket.seats if s.endswith("4")]}
    trail.append(f"reserve_seats:{depth}:{hall['name']}")
    return charge_card(depth + 1, variant, basket, trail, amount)


def charge_card(depth: int, variant: int, basket: Basket, trail: list[str], amount: float) -> Any:
    card = {"brand": "visa", "last4": "4242", "amount": round(amount, 2), "attempt": depth}
    trail.append(f"charge_card:{depth}:{card['amount']}")
    if depth >= 19:
        error = ERRORS[variant % len(ERRORS)]
        raise error(f"payment of {card['amount']} EUR for {basket.user} declined at step {depth}")
    return load_basket(depth + 1, variant, basket, trail)


def checkout(variant: int, user: str) -> None:
    basket = Basket(user, [f"{row}{n}" for row in "ABCD" for n in range(1, 6)])
    load_basket(0, variant, basket, [])
