"""Benchmark: how long a spread picture takes to render, and how big it is.

Renders N draws (default 30, fixed seeds) of every spread twice: once from
empty caches, then again with every card face cached, as a long-running
worker mostly renders. Prints a table of milliseconds (the very first render,
the first pass's median, and the warm median and 95th percentile) and PNG
size per spread, then the warm median and size of the JPEG that readings
send to Telegram, and the warm median of that JPEG with a 48-character
question, the date and the bot's name in its header, as a reading's photo has
them (each question a new one). Then the CPU time of that JPEG per picture
(``time.thread_time``, the best of three rounds of at least 100 draws, warm,
new draws and questions each round; a few with ``-n`` below 10) in English and
Russian, with the JPEGs' mean and largest size. The last line is one JSON
object with the figures, for scripts: ``{"bench": "render", "celtic_median_ms":
...}``.

Run: ``python bench/render.py [-n 30]`` (or ``python -m bench.render``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tarotbot.tarot.deck import load_deck
from tarotbot.tarot.draw import draw
from tarotbot.tarot.languages import localized_deck
from tarotbot.tarot.render import canvas_size, render_spread, warm_faces
from tarotbot.tarot.spreads import SPREADS


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


#: The header of a reading's photo: a question (numbered, so each is new), date, bot.
QUESTION = "What does the week hold for me, number {}?"
WHEN = dt.datetime(2026, 11, 30, 21, 0)


def _timed(draws, image_format: str = "png", asked: int = 0) -> tuple[list[float], list[int]]:
    """Milliseconds and bytes per picture; ``asked``: number the questions from it (0: none)."""
    times, sizes = [], []
    for i, result in enumerate(draws):
        header = {}
        if asked:
            header = {"question": QUESTION.format(asked + i), "date": WHEN, "brand": "TarotBot"}
        started = time.perf_counter()
        picture = render_spread(result, image_format=image_format, **header)
        times.append((time.perf_counter() - started) * 1000)
        sizes.append(len(picture))
    return times, sizes


def bench(runs: int) -> dict[str, dict[str, float]]:
    """Two passes per spread over the same ``runs`` draws.

    The first pass starts with empty caches (each new card face is drawn
    once); the second renders the same draws again with every face cached,
    as a long-running worker mostly does.
    """
    deck = load_deck()
    results: dict[str, dict[str, float]] = {}
    for name in SPREADS:
        seeds = [hashlib.sha256(f"bench:{name}:{i}".encode()).hexdigest()[:32] for i in range(runs)]
        draws = [draw(name, seed, 0.3, deck=deck) for seed in seeds]
        first, sizes = _timed(draws)
        warm, _ = _timed(draws)
        jpeg, jpeg_sizes = _timed(draws, "jpeg")
        _timed(draws, "jpeg", asked=8000001)  # the header of the day drawn once, as in a worker
        asked, _ = _timed(draws, "jpeg", asked=9000001)
        width, height = canvas_size(SPREADS[name])
        results[name] = {
            "cold_ms": round(first[0], 1),
            "first_pass_median_ms": round(statistics.median(first), 1),
            "median_ms": round(statistics.median(warm), 1),
            "p95_ms": round(percentile(warm, 0.95), 1),
            "png_kb": round(statistics.mean(sizes) / 1024, 1),
            "max_png_kb": round(max(sizes) / 1024, 1),
            "jpeg_median_ms": round(statistics.median(jpeg), 2),
            "jpeg_kb": round(statistics.mean(jpeg_sizes) / 1024, 1),
            "jpeg_question_median_ms": round(statistics.median(asked), 2),
            "width": width,
            "height": height,
        }
    return results


def _languages() -> list[str]:
    try:
        localized_deck("ru")
    except Exception:  # no Russian deck: English only
        return ["en"]
    return ["en", "ru"]


def cpu(runs: int, rounds: int = 3) -> dict[str, dict[str, float]]:
    """CPU ms per JPEG with a question (the best of ``rounds`` rounds of ``runs`` draws,
    warm, new draws and questions each round) and its mean and largest size, per spread
    and language."""
    deck = load_deck()
    asked = 8000001
    results: dict[str, dict[str, float]] = {}
    languages = _languages()
    warm_faces(list(SPREADS), languages)
    for name in SPREADS:
        for language in languages:
            best, sizes = float("inf"), []
            for round_ in range(rounds + 1):  # the first round (not counted) warms the rest
                seeds = [
                    hashlib.sha256(f"cpu:{name}:{language}:{round_}:{i}".encode()).hexdigest()
                    for i in range(runs)
                ]  # new draws each round, as a worker has them
                draws = [draw(name, seed[:32], 0.3, deck=deck) for seed in seeds]
                header = {"date": WHEN, "brand": "TarotBot", "language": language}
                started = time.thread_time()
                sizes = []
                for result in draws:
                    question = QUESTION.format(asked)
                    asked += 1
                    picture = render_spread(
                        result, image_format="jpeg", question=question, **header
                    )
                    sizes.append(len(picture))
                if round_:
                    best = min(best, (time.thread_time() - started) * 1000 / len(draws))
            results[f"{name}_{language}"] = {
                "cpu_ms": round(best, 2),
                "kb": round(statistics.mean(sizes) / 1024, 1),
                "max_kb": round(max(sizes) / 1024, 1),
            }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 30)))
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    results = bench(args.runs)
    header = (
        f"{'spread':<18} {'canvas':>10} {'cold ms':>8} {'1st pass':>9} "
        f"{'median ms':>10} {'p95 ms':>8} {'PNG KB':>8} {'max KB':>8} {'JPEG ms':>8} {'JPEG KB':>8}"
        f" {'JPEG+Q ms':>9}"
    )
    print(f"render benchmark: {args.runs} draws per spread, {os.cpu_count()} CPUs")
    print("cold: first render in the process; 1st pass: median while faces are drawn the")
    print("first time; median/p95: the same draws again with every face cached;")
    print("JPEG+Q: the JPEG with a question, date and bot name in its header, as readings send")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        canvas = f"{r['width']}x{r['height']}"
        print(
            f"{name:<18} {canvas:>10} {r['cold_ms']:>8.1f} {r['first_pass_median_ms']:>9.1f} "
            f"{r['median_ms']:>10.1f} {r['p95_ms']:>8.1f} {r['png_kb']:>8.1f} {r['max_png_kb']:>8.1f}"
            f" {r['jpeg_median_ms']:>8.2f} {r['jpeg_kb']:>8.1f} {r['jpeg_question_median_ms']:>9.2f}"
        )
    cpu_runs = max(100, args.runs) if args.runs >= 10 else args.runs  # (below 10: a smoke run)
    per_picture = cpu(cpu_runs)
    print()
    print(f"CPU per JPEG with a question: best of 3 rounds of {cpu_runs} draws (thread time)")
    head = f"{'spread':<18} {'language':>8} {'CPU ms':>8} {'JPEG KB':>8} {'max KB':>8}"
    print(head)
    print("-" * len(head))
    for key, r in per_picture.items():
        name, _, language = key.rpartition("_")
        print(f"{name:<18} {language:>8} {r['cpu_ms']:>8.2f} {r['kb']:>8.1f} {r['max_kb']:>8.1f}")
    summary: dict[str, object] = {"bench": "render", "runs": args.runs}
    for name, r in results.items():
        summary[f"{name}_median_ms"] = r["median_ms"]
        summary[f"{name}_first_pass_median_ms"] = r["first_pass_median_ms"]
        summary[f"{name}_p95_ms"] = r["p95_ms"]
        summary[f"{name}_png_kb"] = r["png_kb"]
        summary[f"{name}_jpeg_median_ms"] = r["jpeg_median_ms"]
        summary[f"{name}_jpeg_question_median_ms"] = r["jpeg_question_median_ms"]
    summary["max_png_kb"] = max(r["max_png_kb"] for r in results.values())
    for key, r in per_picture.items():
        summary[f"{key}_jpeg_question_cpu_ms"] = r["cpu_ms"]
    summary["max_jpeg_kb"] = max(r["max_kb"] for r in per_picture.values())
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
