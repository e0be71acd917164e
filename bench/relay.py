"""Benchmark of the relay (issue 5): writing every channel's piece of one held conference.

    .venv/bin/python bench/relay.py [--runs N] [--no-fail]

Judged figure (issue 11 §2): per input, p99(compose_all) / p99(extract_tags) — the relay's
tail as a ratio to jieba's own keyword extraction on the same input, timed alternately in the
same run, so machine noise (2 shared vCPUs) cancels out of the ratio instead of moving an
absolute threshold. Targets (`RATIO_TARGETS`): ≤ 1.5× on the ~5000-character inputs; ≤ 2.0×
on ~2000 and ≤ 2.5× on the golden ~400-character record, where compose_all's fixed work (eight
channel templates, sentence selection) weighs more than one short keyword pass. The absolute
p50/p99/max are printed as context (the old absolute target, p99 < 50 ms, is reported but not
judged). Inputs: the golden record (要点 of ~400 characters) and long inputs (~2000 and ~5000
characters of realistic sentences; ~5000 random CJK characters, with a few "。" or none at
all, the worst case for jieba's HMM).

Reference: one TF-IDF `extract_tags(text, topK=20)` call on the same text
(the relay's private `jieba.analyse.TFIDF`, the very code of `jieba.analyse.extract_tags`,
bound to the relay's tokenizer with the domain dictionary). compose_all makes one such call
per release, on the topic and the first 3000 characters of 要点, so the ratio
shows what the relay costs beyond jieba's own keyword pass; above 3000 characters it is below
1: the reference reads the whole text.

jieba's load time (`Composer.load()`: import jieba and jieba.analyse, build the private
tokenizer with the domain dictionary) is measured once, in a fresh process, and reported
apart. Exit status 1 if a ratio misses its target (unless --no-fail).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liuan_bot.commands.suggest import DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH  # noqa: E402
from liuan_bot.relay import Composer, ReleaseFacts, load_channels  # noqa: E402
from tests.relay.facts import GOLDEN  # noqa: E402
from tests.relay.test_properties import POOL  # noqa: E402

TARGET_MS = 50.0  # the former absolute target (issue 5): reported as context, not judged
# p99(compose_all) / p99(extract_tags) per input; the 5000-character inputs are the judged case
# of issue 11 §2 (measured 0.3–1.0× on 2 shared vCPUs), the shorter ones carry more fixed work
RATIO_TARGETS = {"golden (~400)": 2.5, "long ~2000": 2.0}
RATIO_TARGET_5000 = 1.5
COUNTIES = ("金安区", "裕安区", "叶集区", "霍邱县", "舒城县", "金寨县", "霍山县", "六安经开区")


def long_text(size: int, seed: int) -> str:
    """~`size` characters of press-release sentences, each one different (numbers varied), in
    paragraphs of a few sentences."""
    rng = random.Random(seed)
    sentences = [s for s in (*POOL, *GOLDEN.key_points.replace("\n", "").split("。")) if s]
    out: list[str] = []
    total = 0
    while total < size:
        sentence = rng.choice(sentences).rstrip("。") + "。"
        sentence = "".join(str(rng.randint(1, 9)) if ch.isdigit() else ch for ch in sentence)
        sentence = f"{rng.choice(COUNTIES)}{sentence}" if rng.random() < 0.5 else sentence
        out.append(sentence + ("\n" if rng.random() < 0.2 else ""))
        total += len(out[-1])
    return "".join(out)


def random_cjk(size: int, seed: int, stops: float) -> str:
    """Random CJK characters, a "。" with probability `stops` at each position."""
    rng = random.Random(seed)
    return "".join(
        "。" if rng.random() < stops else chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(size)
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(
    target: Callable[[], object], reference: Callable[[], object], runs: int
) -> tuple[list[float], list[float]]:
    """Milliseconds per call, target and reference interleaved, after a warm-up."""
    for _ in range(5):
        target()
        reference()
    times: list[float] = []
    refs: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        reference()
        refs.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        target()
        times.append((time.perf_counter() - started) * 1000)
    return times, refs


def load_time() -> float:
    """Seconds `Composer.load()` takes in a fresh process (jieba not yet imported)."""
    code = (
        "import time\n"
        "from liuan_bot.commands.suggest import DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH\n"
        "from liuan_bot.relay import Composer\n"
        "c = Composer(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH)\n"
        "t = time.perf_counter(); c.load(); print(time.perf_counter() - t)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="measured runs per input (≥200)")
    parser.add_argument("--no-fail", action="store_true", help="report only, exit 0")
    args = parser.parse_args()
    runs = max(args.runs, 200)

    loads = [load_time() for _ in range(3)]
    composer = Composer(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH)
    composer.load()
    engine = composer._ready()
    channels = load_channels(ROOT / "config" / "channels.toml")

    cases: list[tuple[str, ReleaseFacts]] = [
        ("golden (~400)", GOLDEN),
        ("long ~2000", dataclasses.replace(GOLDEN, key_points=long_text(2000, 1))),
        ("long ~5000", dataclasses.replace(GOLDEN, key_points=long_text(5000, 2))),
        ("random CJK ~5000", dataclasses.replace(GOLDEN, key_points=random_cjk(5000, 3, 0.03))),
        ("CJK, no stop ~5000", dataclasses.replace(GOLDEN, key_points=random_cjk(5000, 4, 0.0))),
    ]
    rows = []
    failed = False
    absolute_missed = False
    for name, facts in cases:
        text = f"{facts.topic}。{facts.key_points}"
        times, refs = measure(
            lambda facts=facts: composer.compose_all(facts, channels),  # type: ignore[misc]
            lambda text=text: engine.extractor.extract_tags(text, topK=20),  # type: ignore[misc]
            runs,
        )
        p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
        r50, r99 = percentile(refs, 0.5), percentile(refs, 0.99)
        target = RATIO_TARGETS.get(name, RATIO_TARGET_5000)
        ratio = p99 / r99
        failed |= ratio > target
        absolute_missed |= p99 >= TARGET_MS
        rows.append((name, len(facts.key_points), p50, p99, max(times), r50, r99, ratio, target))

    print(
        f"Relay benchmark — {len(channels)} channels, {runs} runs per input; Python "
        f"{platform.python_version()}, {platform.machine()}, {platform.system()}"
    )
    print(
        f"jieba load (Composer.load, fresh process): median {statistics.median(loads):.2f} s "
        f"(runs: {', '.join(f'{x:.2f}' for x in loads)})"
    )
    print()
    header = (
        "| input              | chars | compose_all p50 | p99 (ms) | max (ms) "
        "| extract_tags p50 | p99 (ms) | ratio p99 | target      |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for name, chars, p50, p99, worst, r50, r99, ratio, target in rows:
        mark = "ok" if ratio <= target else "MISS"
        print(
            f"| {name:<18} | {chars:>5} | {p50:>12.2f} ms | {p99:>8.2f} | {worst:>8.2f} "
            f"| {r50:>13.2f} ms | {r99:>8.2f} | {ratio:>8.2f}x | "
            f"{'≤ ' + format(target, '.1f') + 'x ' + mark:<11} |"
        )
    print()
    verdict = "met" if not failed else "MISSED"
    print(
        "target: p99(compose_all) / p99(extract_tags) ≤ "
        f"{RATIO_TARGET_5000:.1f}x on the ~5000-character inputs, "
        + ", ".join(f"≤ {t:.1f}x on {n}" for n, t in RATIO_TARGETS.items())
        + f": {verdict}"
    )
    absolute = "met" if not absolute_missed else "missed"
    print(f"context (not judged): compose_all p99 < {TARGET_MS:.0f} ms on every input: {absolute}")
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
