"""How often `unleash-client` (Node, from npm) buckets a user like trimtab, by script of the id.

    .venv/bin/python bench/unleash_hashing.py [--ids 20000]

trimtab (`core.flags.bucketing`), Unleash's Python, Go and Java SDKs hash "<groupId>:<id>" as
UTF-8 bytes with murmur3 x86 32. unleash-client (Node) hashes through `murmurhash3js`, which
takes `charCodeAt(i) & 0xff` for each UTF-16 code unit: the same as UTF-8 for ASCII only.

For each kind of id the script asks unleash-client itself (its `normalizedStrategyValue` and
`normalizedVariantValue`, the functions its flexibleRollout and variants call) and compares with
trimtab's buckets: the share of ids in the same rollout percent (1..100), the share answered
alike by a 50% rollout, and by a three-way 20/30/50 variant split; and, as a control, the
Python UnleashClient's own `normalized_hash`. Prints a Markdown table
(docs/compatibility.md holds the last run). Installs the npm package into bench/out/npm.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import mmh3

from trimtab.core.flags.bucketing import ROLLOUT_SEED, VARIANT_SEED

PACKAGE = "unleash-client@6"
OUT = Path(__file__).parent / "out" / "npm"
GROUP = "checkout-redesign"
WEIGHTS = (200, 300, 500)

# Each kind: characters ids are drawn from (with ASCII digits mixed in, as real ids are).
KINDS: dict[str, str] = {
    "ASCII": "abcdefghijklmnopqrstuvwxyz0123456789-_@.",
    "Latin-1 accents (é, ñ, ü)": "éèêëñüöäßàçøåÉÑÜ",
    "Cyrillic": "абвгдеёжзийклмнопрстуфхцчшщыэюя",
    "Greek": "αβγδεζηθικλμνξοπρστυφχψω",
    "CJK (漢字, かな, 한글)": "漢字中文用户名前田中山あいうえおかきくけこ가나다라마바사아자차",
    "Emoji (surrogate pairs)": "😀🚀🎉👍🔥🌍🍕🐱",
}

NODE = r"""
const util = require('unleash-client/lib/strategy/util');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = input.ids.map((id) => [
  util.normalizedStrategyValue(id, input.group),
  util.normalizedVariantValue(id, input.group, input.total),
]);
process.stdout.write(JSON.stringify(out));
"""


def node_modules() -> Path:
    marker = OUT / ".installed"
    if not (marker.exists() and marker.read_text() == PACKAGE):
        if shutil.which("npm") is None:
            sys.exit("npm is needed")
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "package.json").write_text('{"private": true}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", PACKAGE],
            cwd=OUT,
            check=True,
            timeout=600,
        )
        marker.write_text(PACKAGE)
    return OUT / "node_modules"


def ids_of(kind: str, count: int, rng: random.Random) -> list[str]:
    alphabet = KINDS[kind]
    ids = []
    for i in range(count):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 12)))
        ids.append(f"{body}{i}" if i % 2 else f"user-{body}")
    return ids


def trimtab_values(identifier: str) -> tuple[int, int]:
    """(rollout percent 1..100, variant target 1..total) as trimtab and UTF-8 SDKs see them."""
    key = f"{GROUP}:{identifier}"
    rollout = mmh3.hash(key, ROLLOUT_SEED, False) % 100 + 1
    variant = mmh3.hash(key, VARIANT_SEED, False) % sum(WEIGHTS) + 1
    return rollout, variant


def variant_of(target: int) -> int:
    running = 0
    for index, weight in enumerate(WEIGHTS):
        running += weight
        if target <= running:
            return index
    raise AssertionError(target)


def python_sdk_agreement(ids: list[str]) -> float:
    """The share of ids UnleashClient (Python) puts in the same rollout percent as trimtab."""
    from UnleashClient.utils import normalized_hash

    same = sum(normalized_hash(i, GROUP) == trimtab_values(i)[0] for i in ids)
    return same / len(ids)


def measure(ids: list[str], modules: Path) -> tuple[float, float, float]:
    script = modules.parent / "hashing.js"
    script.write_text(NODE)
    done = subprocess.run(
        ["node", str(script)],
        input=json.dumps({"ids": ids, "group": GROUP, "total": sum(WEIGHTS)}).encode(),
        capture_output=True,
        cwd=modules.parent,
        check=True,
        timeout=600,
    )
    node = json.loads(done.stdout)
    same_percent = same_rollout = same_variant = 0
    for identifier, (node_rollout, node_variant) in zip(ids, node, strict=True):
        rollout, variant = trimtab_values(identifier)
        same_percent += node_rollout == rollout
        same_rollout += (node_rollout <= 50) == (rollout <= 50)
        same_variant += variant_of(node_variant) == variant_of(variant)
    n = len(ids)
    return same_percent / n, same_rollout / n, same_variant / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=20_000, help="ids per kind")
    args = parser.parse_args()
    modules = node_modules()
    version = json.loads((modules / "unleash-client" / "package.json").read_text())["version"]
    rng = random.Random(2026)
    print(f"unleash-client {version}, {args.ids:,} ids per kind, groupId {GROUP!r}\n")
    print(
        "| ids | Node: same rollout percent | Node: same answer, 50% rollout "
        "| Node: same variant, 20/30/50 | Python UnleashClient: same rollout percent |"
    )
    print("|---|---|---|---|---|")
    for kind in KINDS:
        ids = ids_of(kind, args.ids, rng)
        percent, rollout, variant = measure(ids, modules)
        python = python_sdk_agreement(ids)
        print(f"| {kind} | {percent:.1%} | {rollout:.1%} | {variant:.1%} | {python:.1%} |")


if __name__ == "__main__":
    main()
