"""FlagClient without a server: bootstrap files, the JSON cases, never raising, counting."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.core.test_evaluation import load_cases
from trimtab.sdk import BreakerPolicy, ConfigurationError, DependencyUnavailable, FlagClient

KILL = {"key": "kill", "enabled": True}
PAGE = {
    "key": "new-payment-page",
    "enabled": True,
    "rules": [
        {
            "id": "asia-half",
            "constraints": [{"attribute": "country", "operator": "in", "values": ["KR", "JP"]}],
            "serve": {"rollout": {"percentage": 50}},
        }
    ],
    "default_variant": "off",
    "fallback": {"variant": "off", "dependencies": ["billing-api"]},
}
SENTINEL = object()


def bootstrap(tmp_path: Path, flags: list[Any], **extra: Any) -> Path:
    path = tmp_path / "flags.json"
    document = {"project": "shop", "environment": "production", "etag": '"1-1"', "flags": flags}
    path.write_text(json.dumps({**document, **extra}))
    return path


def offline(path: Path | None, **options: Any) -> FlagClient:
    # Port 9 (discard) on loopback: nothing listens, so every request fails fast.
    return FlagClient("http://127.0.0.1:9", "tt_key", bootstrap_path=path, start=False, **options)


@pytest.mark.parametrize("case", load_cases())
def test_client__json_case__same_answer_as_the_core(case: dict[str, Any], tmp_path: Path) -> None:
    expect = case["expect"]
    flags = [*case.get("flags", []), *([case["flag"]] if case["flag"] else [])]
    path = bootstrap(
        tmp_path, flags, segments=case.get("segments") or {}, unhealthy=case.get("unhealthy", [])
    )
    client = offline(path)
    if "config_error" in expect:
        # The SDK skips a flag it cannot compile and serves the rest.
        key = case["flag"].get("key") if isinstance(case["flag"], dict) else None
        assert key not in client.flag_keys()
        return
    key = case["flag"]["key"] if case["flag"] else case["key"]
    details = client.evaluate(
        key, SENTINEL, case["context"], expected_type=case.get("expected_type")
    )
    assert details.reason == expect["reason"]
    assert details.error_code == expect.get("error_code")
    if details.error_code is None:
        assert json.dumps(details.value) == json.dumps(expect["value"])
        assert details.variant == expect["variant"]
    else:
        assert details.value is SENTINEL  # on error the caller's default


def test_client__bootstrap_file__serves_before_any_server_answer(tmp_path: Path) -> None:
    client = offline(bootstrap(tmp_path, [KILL, PAGE]))
    assert client.ready and client.etag == '"1-1"'
    assert client.bool_value("kill", False) is True
    kr = {"targetingKey": "user-1", "country": "KR"}
    assert (
        client.bool_value("new-payment-page", True, {"targetingKey": "u", "country": "US"}) is False
    )
    assert client.evaluate("new-payment-page", None, kr).reason in ("SPLIT", "DEFAULT")
    assert client.flag_keys() == ["kill", "new-payment-page"]


def test_client__server_unhealthy_list__bound_flag_serves_fallback(tmp_path: Path) -> None:
    client = offline(bootstrap(tmp_path, [PAGE], unhealthy=["billing-api"]))
    details = client.evaluate("new-payment-page", True, {"targetingKey": "u", "country": "KR"})
    assert (details.value, details.reason) == (False, "FALLBACK")


@pytest.mark.parametrize("content", ["{not json", '{"flags": 3}', "[]", ""])
def test_client__broken_bootstrap_file__logged_and_code_defaults_served(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "flags.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING, "trimtab.sdk"):
        client = offline(path)
    assert not client.ready
    assert "ignoring bootstrap file" in caplog.text
    assert client.bool_value("kill", True) is True


def test_client__one_bad_flag_in_the_rule_set__others_still_serve(tmp_path: Path) -> None:
    bad = {"key": "bad", "rules": [{"serve": {"rollout": {"percentage": 900}}}]}
    client = offline(bootstrap(tmp_path, [bad, KILL]))
    assert client.bool_value("kill", False) is True
    assert client.evaluate("bad", "d").error_code == "FLAG_NOT_FOUND"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.bool_value("kill", False, "not a mapping"),
        lambda c: c.bool_value("missing", False),
        lambda c: c.string_value("kill", "default"),
        lambda c: c.number_value("kill", 7),
        lambda c: c.json_value("kill", {"d": 1}, {"targetingKey": object()}),
        lambda c: c.evaluate("kill", "d", 12345),
        lambda c: c.bool_value(None, False),
        lambda c: c.bool_value(["unhashable"], False),
    ],
)
def test_client__bad_calls__never_raise_and_serve_the_default(tmp_path: Path, call: Any) -> None:
    client = offline(bootstrap(tmp_path, [KILL]))
    call(client)  # must not raise


def test_client__wrong_type_requested__code_default(tmp_path: Path) -> None:
    client = offline(bootstrap(tmp_path, [KILL]))
    assert client.string_value("kill", "x") == "x"
    assert client.evaluate("kill", "x", expected_type="string").error_code == "TYPE_MISMATCH"


def test_client__typed_values__read_from_the_flag(tmp_path: Path) -> None:
    flags = [
        {
            "key": "banner",
            "type": "string",
            "enabled": True,
            "variants": {"a": "hi", "b": "yo"},
            "default_variant": "a",
            "off_variant": "b",
        },
        {
            "key": "limit",
            "type": "number",
            "enabled": True,
            "variants": {"a": 3, "b": 0},
            "default_variant": "a",
            "off_variant": "b",
        },
        {
            "key": "layout",
            "type": "json",
            "enabled": True,
            "variants": {"a": {"cols": 2}, "b": {}},
            "default_variant": "a",
            "off_variant": "b",
        },
    ]
    client = offline(bootstrap(tmp_path, flags))
    assert client.string_value("banner", "") == "hi"
    assert client.number_value("limit", 0) == 3
    assert client.json_value("layout", None) == {"cols": 2}


def test_client__evaluations__counted_per_flag_and_variant(tmp_path: Path) -> None:
    client = offline(bootstrap(tmp_path, [KILL]))
    for _ in range(3):
        client.bool_value("kill", False)
    client.bool_value("missing", False)
    assert client.evaluation_counts() == {"kill": {"on": 3}}


def test_client__save_bootstrap__round_trips_through_a_new_client(tmp_path: Path) -> None:
    client = offline(bootstrap(tmp_path, [KILL, PAGE]))
    target = tmp_path / "saved.json"
    assert client.save_bootstrap(target)
    again = offline(target)
    assert again.etag == '"1-1"'
    assert again.bool_value("kill", False) is True
    assert offline(None).save_bootstrap(target) is False  # nothing to save yet


def test_client__server_unreachable__refresh_false_and_rules_kept(tmp_path: Path) -> None:
    client = offline(bootstrap(tmp_path, [KILL]), timeout=0.5)
    assert client.refresh() is False
    assert client.bool_value("kill", False) is True
    client.close()


def test_client__started_against_no_server__close_is_prompt(tmp_path: Path) -> None:
    client = FlagClient("http://127.0.0.1:9", "tt_key", bootstrap_path=bootstrap(tmp_path, [KILL]))
    assert client.bool_value("kill", False) is True
    client.close()
    assert all(not t.is_alive() for t in client._threads)


@pytest.mark.parametrize(
    ("url", "key", "options"),
    [
        ("ftp://x", "k", {}),
        ("localhost:8000", "k", {}),
        ("http://x", " ", {}),
        ("http://x", "k", {"poll_interval": 0}),
        ("http://x", "k", {"metrics_interval": -1}),
        ("http://x", "k", {"persist_bootstrap": True}),
    ],
)
def test_client__bad_arguments__configuration_error(
    url: str, key: str, options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError):
        FlagClient(url, key, start=False, **options)


def test_sdk_import__pulls_in_no_server_module() -> None:
    code = (
        "import sys, trimtab.sdk, trimtab.sdk.guard;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'sqlalchemy', 'starlette', 'uvicorn', 'alembic', 'jinja2')"
        " or m.startswith(('trimtab.server', 'trimtab.store', 'trimtab.domain'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_client__evaluations_from_many_threads__counted_exactly(tmp_path: Path) -> None:
    client = offline(bootstrap(tmp_path, [KILL, PAGE]))

    def work() -> None:
        for i in range(5000):
            client.bool_value("kill", False)
            client.evaluate("new-payment-page", False, {"targetingKey": f"u{i}", "country": "US"})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.evaluation_counts() == {
        "kill": {"on": 20000},
        "new-payment-page": {"off": 20000},
    }
    _, marks = client._counter.collect()
    client._counter.commit(marks)
    assert client.evaluation_counts() == {}  # reported; finished threads' counters dropped
    assert client._counter._threads == []


def test_client__guarded_dependency_breaker_opens__bound_flag_falls_back_in_this_process(
    tmp_path: Path,
) -> None:
    policy = BreakerPolicy(consecutive_failures=2, open_s=0.2)
    client = offline(bootstrap(tmp_path, [PAGE]), breaker=policy)
    kr = {"targetingKey": "user-1", "country": "KR"}
    normal = client.evaluate("new-payment-page", None, kr).reason
    for _ in range(2):
        with pytest.raises(TimeoutError), client.guard("billing-api"):
            raise TimeoutError
    assert client.dependency_states() == {"billing-api": "open"}
    assert client.unhealthy_dependencies == {"billing-api"}
    assert client.evaluate("new-payment-page", True, kr).reason == "FALLBACK"
    with pytest.raises(DependencyUnavailable), client.guard("billing-api"):
        pass
    # Half-open lets the code path behind the flag send its trial call.
    time.sleep(0.25)
    client._refresh_local_open()  # the background thread does this at the deadline
    assert client.evaluate("new-payment-page", None, kr).reason == normal
    with client.guard("billing-api"):
        pass
    assert client.dependency_states() == {"billing-api": "closed"}


async def test_client__in_an_event_loop__async_helpers_and_guard_work(tmp_path: Path) -> None:
    async with offline(bootstrap(tmp_path, [KILL])) as client:
        assert await client.wait_until_ready_async(0.1)
        assert client.bool_value("kill", False) is True  # no I/O: safe in the loop
        async with client.guard("billing-api"):
            pass
        assert client.dependency_states() == {"billing-api": "closed"}
    assert client._stop.is_set()


def test_reconnect_delay__any_number_of_failures__never_waits_5_s() -> None:
    from trimtab.sdk.client import BACKOFF_FIRST_S, JITTER, reconnect_delay

    backoff, waits = BACKOFF_FIRST_S, []
    for _ in range(50):  # an outage of any length
        wait, backoff = reconnect_delay(backoff, max(JITTER))
        waits.append(wait)
    assert waits[:3] == [0.6, 1.2, 2.4]  # quick at first
    assert max(waits) < 5.0  # and the server's return is heard within 5 s
