"""Demo seed: the bad day of shop@2.3.0 in error reports (SCENARIO steps 5-7, 10).

Events are built as the Sentry SDKs build them (`@sentry/browser` on phones for web-front,
`sentry-python` for billing-api) and stored through the ingest path (`domain.ingest`), so the
issues, facets, rollups and notifications are exactly what real traffic would produce:

- new in shop@2.3.0: the new payment page's TypeError (only with `new-payment-page=on`),
  billing-api timeouts (tagged `dependency=billing-api`), a slow seat map warning;
- regressed in shop@2.3.0: the seat-selection RangeError, resolved in 2.2.0;
- older than the release: declined cards from pay-library;
- sessions for both releases, so release health shows 2.3.0 below 2.2.0.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from trimtab.core.sessions import parse_session
from trimtab.demo.common import DEMO_ACTOR, SeedReport
from trimtab.domain.reports import ingest, issues, release_health
from trimtab.store.models import Project, utcnow

OLD, NEW = "shop@2.2.0", "shop@2.3.0"
DEPLOYED_AGO = timedelta(hours=30)  # shop@2.3.0 went to production this long ago

PHONES = [
    (
        {"family": "iPhone", "model": "iPhone 15", "brand": "Apple"},
        {"name": "iOS", "version": "17.5.1"},
        {"name": "Mobile Safari", "version": "17.5"},
    ),
    (
        {"family": "Samsung SM-S918N", "model": "Galaxy S23 Ultra", "brand": "Samsung"},
        {"name": "Android", "version": "14"},
        {"name": "Chrome Mobile", "version": "125.0.6422"},
    ),
    (
        {"family": "Pixel 8", "model": "Pixel 8", "brand": "Google"},
        {"name": "Android", "version": "14"},
        {"name": "Chrome Mobile", "version": "126.0.6478"},
    ),
]
MOVIES = ["dune-part-two", "inside-out-2", "exhuma", "the-roundup-punishment"]
PROVIDERS = ["toss", "kakaopay", "naverpay", "card"]


def seed_error_reports(session: Session, project: Project, report: SeedReport) -> None:
    rng = random.Random(2_3_0)
    now = utcnow().replace(microsecond=0)
    deployed = now - DEPLOYED_AGO
    builder = _Builder(rng)

    def store(events: list[tuple[dict[str, Any], datetime]]) -> list[ingest.StoredEvent]:
        prepared = [
            ingest.prepare_event(
                project.id, event, orjson.dumps(event), at, client_ip=_client_address(event)
            )
            for event, at in events
        ]
        return ingest.store_events(session, prepared)

    before = [deployed - timedelta(hours=rng.uniform(2, 70)) for _ in range(40)]
    # Before the release: declined cards (pay-library) and the seat RangeError.
    store([(builder.declined(OLD, at), at) for at in sorted(before[:25])])
    seat = store([(builder.seat_range(OLD, at), at) for at in sorted(before[25:33])])
    issues.resolve_issue(session, DEMO_ACTOR, seat[0].issue_id, reason="fixed seat index bounds")

    after = sorted(deployed + timedelta(hours=rng.uniform(2, 29.5)) for _ in range(90))
    batch: list[tuple[dict[str, Any], datetime]] = []
    for i, at in enumerate(after):
        pick = i % 9
        if pick in (0, 1, 2, 3):
            batch.append((builder.payment_type_error(at), at))
        elif pick in (4, 5):
            batch.append((builder.billing_timeout(at), at))
        elif pick == 6:
            batch.append((builder.seat_range(NEW, at), at))
        elif pick == 7:
            batch.append((builder.declined(NEW, at), at))
        else:
            batch.append((builder.slow_seat_map(at), at))
    store(batch)

    _sessions(session, project.id, rng, OLD, deployed - timedelta(hours=48), 400, 0.004)
    _sessions(session, project.id, rng, NEW, deployed, 600, 0.019)
    report.notes.append(
        "error reports: 5 issues (3 new in shop@2.3.0, 1 regressed), 130 events, "
        "1,000 sessions for release health"
    )


def _client_address(event: dict[str, Any]) -> str | None:
    """The address a moviegoer's browser sent from (a documentation range, one per user), for
    its `{{auto}}` ip_address; server-side events have none."""
    user = event.get("user")
    if not isinstance(user, dict) or user.get("ip_address") != "{{auto}}":
        return None
    number = int(str(user.get("id", "user-0")).rsplit("-", 1)[-1] or 0)
    return f"203.0.113.{number % 254 + 1}"


def _sessions(
    session: Session,
    project_id: int,
    rng: random.Random,
    release: str,
    start: datetime,
    count: int,
    crash_rate: float,
) -> None:
    updates = []
    for i in range(count):
        started = start + timedelta(minutes=rng.uniform(0, 28 * 60))
        status = "crashed" if rng.random() < crash_rate else "exited"
        payload = {
            "sid": uuid.UUID(int=rng.getrandbits(128)).hex,
            "did": f"user-{rng.randrange(count // 2)}",
            "init": True,
            "started": started.isoformat(),
            "timestamp": (started + timedelta(minutes=4)).isoformat(),
            "duration": rng.uniform(20, 600),
            "status": status,
            "errors": 1 if status == "crashed" or i % 15 == 0 else 0,
            "attrs": {"release": release, "environment": "production"},
        }
        updates.append(parse_session(payload, started))
    release_health.record_sessions(session, project_id, updates, [])


class _Builder:
    """Events shaped like the SDKs' own, varied per user and device."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def _id(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128)).hex

    def _user(self) -> dict[str, Any]:
        n = self.rng.randrange(1, 400)
        return {"id": f"user-{n}", "email": f"moviegoer{n}@example.kr", "ip_address": "{{auto}}"}

    def _browser_event(self, release: str, at: datetime, flag_on: bool) -> dict[str, Any]:
        device, os, browser = self.rng.choice(PHONES)
        movie = self.rng.choice(MOVIES)
        return {
            "event_id": self._id(),
            "timestamp": at.timestamp(),
            "platform": "javascript",
            "level": "error",
            "release": release,
            "environment": "production",
            "user": self._user(),
            "request": {
                "url": "https://shop.example.kr/checkout/payment",
                "headers": {"User-Agent": f"Mozilla/5.0 ({os['name']} {os['version']})"},
            },
            "contexts": {
                "device": {**device, "screen_resolution": "1179x2556", "online": True},
                "os": os,
                "browser": browser,
                "app": {"app_name": "web-front", "app_version": release.split("@")[1]},
                "flags": {"values": [{"flag": "new-payment-page", "result": flag_on}]},
            },
            "tags": {
                "service": "web-front",
                "page": "payment",
                "locale": "ko-KR",
                "movie": movie,
            },
            "extra": {
                "cart_size": self.rng.randint(1, 6),
                "payment_provider": self.rng.choice(PROVIDERS),
                "seat_count": self.rng.randint(1, 4),
                "showtime_id": self.rng.randrange(10_000, 99_999),
            },
            "breadcrumbs": {"values": self._path(at, movie)},
            "sdk": {
                "name": "sentry.javascript.browser",
                "version": "8.33.1",
                "integrations": ["Breadcrumbs", "GlobalHandlers", "LinkedErrors", "FeatureFlags"],
                "packages": [{"name": "npm:@sentry/browser", "version": "8.33.1"}],
            },
        }

    def _path(self, at: datetime, movie: str) -> list[dict[str, Any]]:
        """home → movie detail → seat select → payment, with clicks and API calls between."""
        steps: list[tuple[str, dict[str, Any]]] = [
            ("navigation", {"from": "/", "to": f"/movies/{movie}"}),
            ("xhr", {"method": "GET", "url": f"/api/movies/{movie}/showtimes", "status_code": 200}),
            ("ui.click", {"target": "button.showtime[data-time='19:40']"}),
            ("navigation", {"from": f"/movies/{movie}", "to": f"/movies/{movie}/seats"}),
            ("ui.click", {"target": "div.seat[data-seat='F7']"}),
            ("ui.click", {"target": "div.seat[data-seat='F8']"}),
            ("navigation", {"from": f"/movies/{movie}/seats", "to": "/checkout/payment"}),
            ("xhr", {"method": "POST", "url": "/api/cart", "status_code": 201}),
            ("ui.click", {"target": "button#pay-now"}),
        ]
        crumbs: list[dict[str, Any]] = []
        for i, (category, data) in enumerate(steps):
            crumb: dict[str, Any] = {
                "timestamp": (at - timedelta(seconds=90 - i * 10)).timestamp(),
                "category": category,
                "level": "info",
            }
            if category == "ui.click":
                crumb["message"] = data["target"]
            else:
                crumb["data"] = data
                if category == "xhr":
                    crumb["type"] = "http"
            crumbs.append(crumb)
        crumbs.append(
            {
                "timestamp": (at - timedelta(seconds=1)).timestamp(),
                "category": "console",
                "level": "warning",
                "message": "[payment] provider widget loaded late",
            }
        )
        return crumbs

    def payment_type_error(self, at: datetime) -> dict[str, Any]:
        event = self._browser_event(NEW, at, flag_on=True)
        event["exception"] = {
            "values": [
                {
                    "type": "TypeError",
                    "value": "Cannot read properties of undefined (reading 'amount')",
                    "mechanism": {"type": "onunhandledrejection", "handled": False},
                    "stacktrace": {
                        "frames": [
                            _js(
                                "node_modules/react-dom/cjs/react-dom.production.min.js",
                                "batchedUpdates",
                                3120,
                                in_app=False,
                            ),
                            _js(
                                "src/checkout/NewPaymentPage.tsx",
                                "handleSubmit",
                                88,
                                pre=[
                                    "  const handleSubmit = async (event: FormEvent) => {",
                                    "    event.preventDefault();",
                                    "    const quote = await billing.quote(cart.id);",
                                ],
                                line="    const total = quote.price.amount + fees.booking;",
                                post=[
                                    "    await pay(provider, total);",
                                    "  };",
                                ],
                            ),
                            _js(
                                "src/checkout/totals.ts",
                                "formatTotal",
                                14,
                                pre=[
                                    "export function formatTotal(price: Price) {",
                                ],
                                line="  return won.format(price.amount);",
                                post=["}"],
                            ),
                        ]
                    },
                }
            ]
        }
        return event

    def billing_timeout(self, at: datetime) -> dict[str, Any]:
        event = self._browser_event(NEW, at, flag_on=self.rng.random() < 0.5)
        event["tags"]["dependency"] = "billing-api"
        event["exception"] = {
            "values": [
                {
                    "type": "Error",
                    "value": "Request to billing-api timed out after 3000 ms",
                    "mechanism": {"type": "generic", "handled": True},
                    "stacktrace": {
                        "frames": [
                            _js(
                                "src/api/client.ts",
                                "request",
                                41,
                                line="      throw new TimeoutError(url, ms);",
                            ),
                            _js(
                                "src/checkout/PaymentPage.tsx",
                                "loadQuote",
                                57,
                                line="    const quote = await billing.quote(cart.id);",
                            ),
                        ]
                    },
                }
            ]
        }
        return event

    def seat_range(self, release: str, at: datetime) -> dict[str, Any]:
        event = self._browser_event(release, at, flag_on=False)
        event["tags"]["page"] = "seats"
        seat = self.rng.randrange(200, 260)
        event["exception"] = {
            "values": [
                {
                    "type": "RangeError",
                    "value": f"seat index {seat} out of range",
                    "mechanism": {"type": "onerror", "handled": False},
                    "stacktrace": {
                        "frames": [
                            _js(
                                "src/seats/SeatMap.tsx",
                                "selectSeat",
                                132,
                                pre=[
                                    "  function selectSeat(index: number) {",
                                ],
                                line="    if (index >= seats.length) throw outOfRange(index);",
                                post=["    setSelected([...selected, seats[index]]);"],
                            ),
                        ]
                    },
                }
            ]
        }
        return event

    def slow_seat_map(self, at: datetime) -> dict[str, Any]:
        event = self._browser_event(NEW, at, flag_on=False)
        event["level"] = "warning"
        event["tags"]["page"] = "seats"
        event["message"] = {
            "formatted": f"Slow seat map render: {self.rng.randrange(1800, 4200)} ms"
        }
        return event

    def declined(self, release: str, at: datetime) -> dict[str, Any]:
        code = self.rng.choice([51, 54, 61])
        card = self.rng.randrange(1000, 9999)
        return {
            "event_id": self._id(),
            "timestamp": at.timestamp(),
            "platform": "python",
            "level": "error",
            "release": release,
            "environment": "production",
            "server_name": f"billing-api-{self.rng.randrange(1, 4)}",
            "user": self._user(),
            "tags": {"service": "billing-api", "provider": self.rng.choice(PROVIDERS)},
            "extra": {
                "cart_size": self.rng.randint(1, 6),
                "amount_krw": 14000 * self.rng.randint(1, 4),
            },
            "contexts": {
                "runtime": {"name": "CPython", "version": "3.12.4"},
                "os": {"name": "Linux", "version": "6.8.0"},
            },
            "exception": {
                "values": [
                    {
                        "type": "PaymentDeclinedError",
                        "module": "pay_library.errors",
                        "value": f"card {card} declined (code {code})",
                        "mechanism": {"type": "logging", "handled": True},
                        "stacktrace": {
                            "frames": [
                                _py(
                                    "billing/api/charges.py",
                                    "billing.api.charges",
                                    "create_charge",
                                    77,
                                    "    receipt = provider.charge(cart.total, token=body.token)",
                                    {"cart": "<Cart 3 items>", "provider": "'toss'"},
                                ),
                                _py(
                                    "pay_library/client.py",
                                    "pay_library.client",
                                    "charge",
                                    212,
                                    "        raise PaymentDeclinedError(last4, resp.code)",
                                    {"last4": f"'{card}'", "resp": "<Response 402>"},
                                    in_app=False,
                                ),
                            ]
                        },
                    }
                ]
            },
            "sdk": {"name": "sentry.python.fastapi", "version": "2.14.0"},
        }


def _js(
    path: str,
    function: str,
    lineno: int,
    *,
    line: str | None = None,
    pre: list[str] | None = None,
    post: list[str] | None = None,
    in_app: bool = True,
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "filename": f"https://shop.example.kr/{path}",
        "abs_path": f"webpack://web-front/./{path}",
        "function": function,
        "lineno": lineno,
        "colno": 17,
        "in_app": in_app,
    }
    if line is not None:
        frame.update(context_line=line, pre_context=pre or [], post_context=post or [])
    return frame


def _py(
    path: str,
    module: str,
    function: str,
    lineno: int,
    line: str,
    variables: dict[str, Any],
    *,
    in_app: bool = True,
) -> dict[str, Any]:
    return {
        "filename": path,
        "abs_path": f"/srv/{path}",
        "module": module,
        "function": function,
        "lineno": lineno,
        "context_line": line,
        "pre_context": ["", "    # charge the customer's card through the provider"],
        "post_context": ["    return receipt"],
        "vars": variables,
        "in_app": in_app,
    }
