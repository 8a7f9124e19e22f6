"""Regenerate the grouping cases named `sdk_python_*.json` from the real sentry-sdk.

    .venv/bin/python tests/cases/grouping/make_sdk_cases.py

A tiny shop application is written to a temporary directory and imported; its errors are
reported through sentry_sdk with a transport that keeps the envelope instead of sending it.
Each event is stored exactly as the SDK serialized it (nothing stripped), with the expected
grouping written here by hand: what an engineer reading the code would call one issue.
Also writes `tests/cases/envelope/sdk_python_event.envelope` (+ .json), the raw envelope.
Rerunning changes ids, timestamps and paths, never the expectations.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import sentry_sdk
import sentry_sdk.feature_flags
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

HERE = Path(__file__).resolve().parent
ENVELOPE_CASES = HERE.parent / "envelope"

APP = {
    "shop/__init__.py": "",
    "shop/app.py": '''
        import sentry_sdk


        def handle_request(view, *args):
            """What a web framework does: run the view, report what escapes it."""
            try:
                return view(*args)
            except Exception:
                sentry_sdk.capture_exception()
                return None
    ''',
    "shop/views.py": """
        from shop import checkout, inventory


        def checkout_view(cart):
            return checkout.checkout(cart)


        def reserve_view(sku):
            return inventory.reserve(sku, 1)


        def refund_view(order_id):
            return checkout.refund(order_id)
    """,
    "shop/checkout.py": """
        from shop import payments


        class PaymentError(Exception):
            pass


        def checkout(cart):
            total = sum(line["price"] for line in cart["lines"])
            return payments.charge(cart["customer"], total, len(cart["lines"]))


        def refund(order_id):
            try:
                return payments.charge("refunds", -1, 0)
            except ZeroDivisionError as exc:
                raise PaymentError(f"refund of order {order_id} failed") from exc
    """,
    "shop/payments.py": """
        def charge(customer, total, quantity):
            unit_price = total / quantity
            return {"customer": customer, "unit_price": unit_price}
    """,
    # The same function after an edit above it: the crash moves down four lines.
    "shop/payments_v2.py": """
        # Charges go through the provider configured for the shop.
        PROVIDER = "stripe"


        def charge(customer, total, quantity):
            unit_price = total / quantity
            return {"customer": customer, "unit_price": unit_price}
    """,
    "shop/inventory.py": """
        STOCK = {"sku-1": 3}


        def reserve(sku, count):
            left = STOCK[sku] - count
            STOCK[sku] = left
            return left
    """,
    "shop/pipeline.py": "\n".join(
        [
            "import sentry_sdk",
            "",
            "",
            "def run(order):",
            '    state = {"order": order, "trail": []}',
            "    return step_01(state)",
        ]
        + [
            line
            for i in range(1, 21)
            for line in (
                "",
                "",
                f"def step_{i:02d}(state):",
                f'    note = "step {i} of order " + str(state["order"]["id"]) + ": checked stock,"',
                f'    state["trail"].append({{"step": {i}, "note": note, "ok": True}})',
                f"    return step_{i + 1:02d}(state)"
                if i < 20
                else '    return state["order"]["total"] / state["order"]["items"]',
            )
        ]
    ),
}


class KeepingTransport(Transport):
    """Keeps every envelope the SDK would send."""

    envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        KeepingTransport.envelopes.append(envelope)


def write_app(root: Path) -> None:
    for name, source in APP.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"))


def capture(action: Any) -> tuple[dict[str, Any], bytes]:
    """Run `action`, return the one event it produced and its serialized envelope."""
    KeepingTransport.envelopes.clear()
    action()
    sentry_sdk.flush()
    (envelope,) = KeepingTransport.envelopes
    event = envelope.get_event()
    assert event is not None
    return json.loads(json.dumps(event, default=str)), envelope.serialize()


CART = {"customer": "cus_1", "lines": []}


def scenarios(root: Path) -> list[dict[str, Any]]:
    """(name, description, action, expect); the actions import from the written app."""
    from shop import app, pipeline, views  # type: ignore[import-not-found]

    def zero_division() -> None:
        set_user_context()
        app.handle_request(views.checkout_view, CART)

    def set_user_context() -> None:
        sentry_sdk.set_user({"id": "42", "email": "ana@example.com", "ip_address": "10.0.0.7"})
        sentry_sdk.set_tag("shop.region", "eu-west")
        sentry_sdk.set_extra("cart_size", 0)
        sentry_sdk.set_context(
            "device", {"model": "Pixel 8", "family": "Android", "battery_level": 81.0}
        )
        sentry_sdk.feature_flags.add_feature_flag("new-checkout", True)
        for i in range(3):
            sentry_sdk.add_breadcrumb(category="ui.click", message=f"clicked button {i}")
        logging.getLogger("shop").info("cart opened")

    def charge_v2() -> None:
        payments = importlib.import_module("shop.payments")
        moved = (root / "shop/payments_v2.py").read_text()
        (root / "shop/payments.py").write_text(moved)
        importlib.reload(payments)
        app.handle_request(views.checkout_view, CART)

    zero_division_frames = [
        "exception[0].type=ZeroDivisionError",
        "exception[0].frame=shop.app in handle_request",
        "exception[0].frame=shop.views in checkout_view",
        "exception[0].frame=shop.checkout in checkout",
        "exception[0].frame=shop.payments in charge",
    ]

    def fingerprinted() -> None:
        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = ["{{ default }}", "stripe-outage"]
            app.handle_request(views.checkout_view, CART)

    def deep_stack() -> None:
        set_user_context()
        sentry_sdk.set_context("os", {"name": "Linux", "version": "6.1.0", "kernel_version": "6.1"})
        sentry_sdk.set_context("browser", {"name": "Chrome", "version": "124.0.6367.91"})
        sentry_sdk.set_extra(
            "service_log",
            {
                f"worker-{n}": f"order 7 step {n}: " + "queued, priced, taxed; " * 6
                for n in range(8)
            },
        )
        for i in range(17):
            sentry_sdk.add_breadcrumb(
                category="http",
                type="http",
                data={"url": f"https://api.example.com/v1/items/{i}", "status_code": 200},
            )
        app.handle_request(pipeline.run, {"id": 7, "total": 120, "items": 0})

    return [
        {
            "name": "sdk_python_zero_division",
            "description": "A handled ZeroDivisionError with user, tags, extra, device "
            "context, a flag and breadcrumbs.",
            "action": zero_division,
            "expect": {
                "title": "ZeroDivisionError: division by zero",
                "culprit": "shop.payments in charge",
                "level": "error",
                "components": zero_division_frames,
            },
        },
        {
            "name": "sdk_python_zero_division_again",
            "description": "The same error raised again: a second event of the same issue.",
            "action": lambda: app.handle_request(views.checkout_view, CART),
            "expect": {"same_group_as": ["sdk_python_zero_division"]},
        },
        {
            "name": "sdk_python_zero_division_moved_lines",
            "description": "The same error after an edit above the crash moved its line "
            "numbers: still the same issue.",
            "action": charge_v2,
            "expect": {
                "same_group_as": ["sdk_python_zero_division"],
                "culprit": "shop.payments in charge",
            },
        },
        {
            "name": "sdk_python_key_error",
            "description": "Another exception in other code: another issue.",
            "action": lambda: app.handle_request(views.reserve_view, "sku-404"),
            "expect": {
                "title": "KeyError: 'sku-404'",
                "culprit": "shop.inventory in reserve",
                "components": [
                    "exception[0].type=KeyError",
                    "exception[0].frame=shop.app in handle_request",
                    "exception[0].frame=shop.views in reserve_view",
                    "exception[0].frame=shop.inventory in reserve",
                ],
                "different_group_from": ["sdk_python_zero_division"],
            },
        },
        {
            "name": "sdk_python_chained",
            "description": "`raise PaymentError(...) from ZeroDivisionError`: both exceptions "
            "of the chain count; the title is the one raised last.",
            "action": lambda: app.handle_request(views.refund_view, 981),
            "expect": {
                "title": "PaymentError: refund of order 981 failed",
                "culprit": "shop.checkout in refund",
                "components": [
                    "exception[0].type=ZeroDivisionError",
                    "exception[0].frame=shop.checkout in refund",
                    "exception[0].frame=shop.payments in charge",
                    "exception[1].type=PaymentError",
                    "exception[1].frame=shop.app in handle_request",
                    "exception[1].frame=shop.views in refund_view",
                    "exception[1].frame=shop.checkout in refund",
                ],
                "different_group_from": ["sdk_python_zero_division"],
            },
        },
        {
            "name": "sdk_python_fingerprint_default_plus",
            "description": "scope.fingerprint = ['{{ default }}', 'stripe-outage'] extends "
            "the default grouping: a separate issue from the plain error.",
            "action": fingerprinted,
            "expect": {
                "components": [*zero_division_frames, "fingerprint=stripe-outage"],
                "different_group_from": ["sdk_python_zero_division"],
            },
        },
        {
            "name": "sdk_python_message_1234",
            "description": "capture_message with a number in it.",
            "action": lambda: sentry_sdk.capture_message("payment 1234 failed"),
            "expect": {
                "title": "payment 1234 failed",
                "culprit": "",
                "level": "info",
                "components": ["message=payment <num> failed"],
            },
        },
        {
            "name": "sdk_python_message_5678",
            "description": "The same message with another number: the same issue.",
            "action": lambda: sentry_sdk.capture_message("payment 5678 failed"),
            "expect": {
                "title": "payment 5678 failed",
                "same_group_as": ["sdk_python_message_1234"],
            },
        },
        {
            "name": "sdk_python_logging_error",
            "description": "logger.error with %s parameters groups on the template.",
            "action": lambda: logging.getLogger("shop.jobs").error("payment %s failed", 55),
            "expect": {
                "title": "payment 55 failed",
                "level": "error",
                "components": ["message=payment %s failed"],
            },
        },
        {
            "name": "sdk_python_deep_stack",
            "description": "A ~40 KB event: 20 in-app frames with locals and context lines "
            "and 20 breadcrumbs (the benchmark's shape).",
            "action": deep_stack,
            "expect": {
                "title": "ZeroDivisionError: division by zero",
                "culprit": "shop.pipeline in step_20",
                "components": [
                    "exception[0].type=ZeroDivisionError",
                    "exception[0].frame=shop.app in handle_request",
                    "exception[0].frame=shop.pipeline in run",
                    *[f"exception[0].frame=shop.pipeline in step_{i:02d}" for i in range(1, 21)],
                ],
            },
        },
    ]


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="trimtab-sdk-app-"))
    write_app(root)
    sys.path.insert(0, str(root))
    sentry_sdk.init(
        dsn="http://5f1c3b0c8d2e4e9a9b7f0e6d5c4b3a21@127.0.0.1:8765/1",
        transport=KeepingTransport,
        release="shop@1.4.2",
        environment="production",
        in_app_include=["shop"],
        project_root=str(root),
        include_local_variables=True,
        max_breadcrumbs=20,
    )
    for case in scenarios(root):
        with sentry_sdk.isolation_scope():
            event, envelope = capture(case["action"])
        record = {
            "name": case["name"],
            "description": case["description"],
            "source": f"sentry-sdk {sentry_sdk.VERSION}, tests/cases/grouping/make_sdk_cases.py",
            "event": event,
            "expect": case["expect"],
        }
        path = HERE / f"{case['name']}.json"
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        print(f"{path.name}: {len(json.dumps(event))} bytes of event")
        if case["name"] == "sdk_python_zero_division":
            write_envelope_case(envelope, event)


def write_envelope_case(envelope: bytes, event: dict[str, Any]) -> None:
    (ENVELOPE_CASES / "sdk_python_event.envelope").write_bytes(envelope)
    header = json.loads(envelope.split(b"\n", 1)[0])
    expected = {
        "description": "An envelope exactly as sentry-sdk (Python) serialized it.",
        "expect": {
            "headers": header,
            "items": [{"type": "event", "payload_json": event}],
        },
    }
    (ENVELOPE_CASES / "sdk_python_event.json").write_text(
        json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    )


if __name__ == "__main__":
    main()
