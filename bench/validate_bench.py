"""Prints the validator's figures quoted in the README: examples per second against the OpenAI cookbook's
data-preparation approach on the same file, and peak memory for a 10k and a 100k file.

Run with `make bench-validate` (or `python -m bench.validate_bench`). The files are generated on the spot:
the bot's own kind of examples (a persona system prompt, a question, a review; a fifth of them a longer
thread whose earlier answer carries weight 0). Each measurement runs in its own process, so peak RSS is
that run's alone. The cookbook's approach (Chat_finetuning_data_prep.ipynb) loads every line into a list,
checks the format, then encodes every value of every message, one encode call each, with the same
encoder ours uses (bpe-openai's o200k_base Rust tokenizer); "cookbook, API" runs it through bpe-openai's
tiktoken-compatible Encoding.encode instead, as the notebook reads with tiktoken swapped for it. All report
the same token statistics; the bench checks that. Speed-ups are against the first, the stricter baseline.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

MODEL = "gpt-4.1-mini-2025-04-14"
LIMIT = 65_536
SIZES = (10_000, 100_000)
REPEATS = 3

PERSONAS = (
    "You are a friendly and enthusiastic product reviewer who loves to highlight the best features of a product.",
    "You are a careful, honest product reviewer. You name one strength and one weakness, and you never exaggerate.",
)
PRODUCTS = ("a portable Bluetooth speaker", "a noise-cancelling headphone", "an espresso machine", "a standing desk",
            "a mechanical keyboard", "a robot vacuum", "a 27-inch 4K monitor", "a trail running shoe",
            "a cast-iron skillet", "an e-reader with a warm light", "a smart thermostat", "a carry-on suitcase")
OPENERS = ("Get ready to be blown away!", "Here's the honest take.", "Short version: buy it.", "I tested it for two weeks.")
PHRASES = ("the battery easily lasts 20 hours", "setup took under five minutes", "the build feels premium",
           "it is lighter than it looks", "the app is clean and never nags", "at $129 it undercuts rivals",
           "the bass is deep without getting muddy", "it stays quiet at night", "the 2-year warranty is a plus",
           "cleaning is a 30-second job", "the controls are where your hand expects them", "it survived a drop onto tile",
           "colours are accurate out of the box", "the cable is a little short", "shipping weight is 2.3 kg",
           "it pairs with two devices at once", "the finish resists fingerprints", "heat-up time is about 25 seconds")
FOLLOW_UPS = ("How does it compare with last year's model?", "Is it worth it for a small flat?",
              "better: keep it shorter and mention the price first", "What about durability?")


def review(rng: random.Random) -> str:
    sentences = [rng.choice(OPENERS)]
    for _ in range(rng.randint(4, 12)):
        first, second = rng.sample(PHRASES, 2)
        sentences.append(f"{first[0].upper()}{first[1:]}, and {second}.")
    return " ".join(sentences) + f" Rating: {rng.randint(6, 10)}/10."


def example(rng: random.Random, n: int) -> dict[str, Any]:
    system = {"role": "system", "content": rng.choice(PERSONAS)}
    question = {"role": "user", "content": f"Review this product: {rng.choice(PRODUCTS)} (model {n % 997})"}
    if rng.random() < 0.2:
        return {"messages": [system, question, {"role": "assistant", "content": review(rng), "weight": 0},
                             {"role": "user", "content": rng.choice(FOLLOW_UPS)},
                             {"role": "assistant", "content": review(rng)}]}
    return {"messages": [system, question, {"role": "assistant", "content": review(rng)}]}


def generate(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            out.write(json.dumps(example(rng, n), ensure_ascii=False) + "\n")


# --- the cookbook's approach, as its notebook does it -----------------------------------------------


def cookbook(path: Path, encoding: Any) -> dict[str, Any]:
    """Chat_finetuning_data_prep.ipynb: load, format checks, then one encode call per message value."""
    with open(path, encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]
    format_errors: dict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            format_errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            format_errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                format_errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                format_errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                format_errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                format_errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            format_errors["example_missing_assistant_message"] += 1

    def num_tokens_from_messages(messages: list[dict[str, Any]], tokens_per_message: int = 3, tokens_per_name: int = 1) -> int:
        num_tokens = 0
        for message in messages:
            num_tokens += tokens_per_message
            for key, value in message.items():
                if not isinstance(value, str):  # the notebook predates weights: encode(0) would raise
                    continue
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += tokens_per_name
        num_tokens += 3
        return num_tokens

    def num_assistant_tokens_from_messages(messages: list[dict[str, Any]]) -> int:
        return sum(len(encoding.encode(m["content"])) for m in messages if m["role"] == "assistant")

    n_missing_system = n_missing_user = 0
    n_messages, convo_lens, assistant_message_lens = [], [], []
    for ex in dataset:
        messages = ex["messages"]
        n_missing_system += not any(m["role"] == "system" for m in messages)
        n_missing_user += not any(m["role"] == "user" for m in messages)
        n_messages.append(len(messages))
        convo_lens.append(num_tokens_from_messages(messages))
        assistant_message_lens.append(num_assistant_tokens_from_messages(messages))
    n_epochs = 3
    n_train = len(dataset)
    if n_train * 3 < 100:
        n_epochs = min(25, 100 // n_train)
    elif n_train * 3 > 25000:
        n_epochs = max(1, 25000 // n_train)
    billed = sum(min(LIMIT, length) for length in convo_lens)
    return {"errors": sum(format_errors.values()), "examples": n_train, **_stats(convo_lens),
            "epochs": n_epochs, "billed_tokens": n_epochs * billed}


def _stats(values: list[int]) -> dict[str, Any]:
    ordered = sorted(values)

    def quantile(q: float) -> float:  # numpy's default (linear) quantile, as the notebook's np.quantile
        position = (len(ordered) - 1) * q
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))

    return {"total": sum(ordered), "min": ordered[0], "median": quantile(0.5), "p95": quantile(0.95), "max": ordered[-1]}


def ours(path: Path, workers: int | None) -> dict[str, Any]:
    from finetune.validator import Rules, validate_file

    report = validate_file(path, Rules(MODEL, LIMIT), workers=workers)
    t = report.tokens
    assert t is not None
    return {"errors": report.errors, "examples": report.examples, "total": t.total, "min": t.min, "median": t.median,
            "p95": t.p95, "max": t.max, "epochs": report.epochs, "billed_tokens": report.billed_tokens}


def one(which: str, path: Path, workers: int | None) -> None:
    """One measurement, in this process: prints its figures as JSON."""
    from finetune.tokens import _openai_tokenizer, encoding_for

    if which == "cookbook-api":  # the notebook as written, with bpe-openai's tiktoken-compatible API for tiktoken
        import bpe_openai

        encoding = bpe_openai.get_encoding(encoding_for(MODEL) or "")
    else:  # the very tokenizer object ours counts with
        encoding = _openai_tokenizer(encoding_for(MODEL) or "")  # loaded before the clock starts, for both
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    figures = ours(path, workers) if which == "ours" else cookbook(path, encoding)
    seconds = time.perf_counter() - started
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    cpu = sum(u.ru_utime + u.ru_stime for u in usage) - before.ru_utime - before.ru_stime  # the timed part only
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rss_mb": own, "child_rss_mb": children, "counts": figures}))


def measure(which: str, path: Path, workers: int | None) -> dict[str, Any]:
    """The best of REPEATS runs, each in a fresh process (the machine is shared: the fastest run is the least disturbed)."""
    runs = [_measure_once(which, path, workers) for _ in range(REPEATS)]
    return min(runs, key=lambda run: run["seconds"])


def _measure_once(which: str, path: Path, workers: int | None) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.validate_bench", "--one", which, str(path)]
    if workers is not None:
        command += ["--workers", str(workers)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--one", choices=("ours", "cookbook", "cookbook-api"))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated example counts")
    parser.add_argument("path", nargs="?")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    if args.one:
        one(args.one, Path(args.path), args.workers)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sizes = tuple(int(n) for n in args.sizes.split(","))
        for size in sizes:
            path = Path(tmp) / f"{size}.jsonl"
            generate(path, size)
            mb = path.stat().st_size / 1e6
            cook = measure("cookbook", path, None)
            api = measure("cookbook-api", path, None)
            single = measure("ours", path, 1)
            both = measure("ours", path, None)
            for name, run in (("cookbook", cook), ("cookbook, API", api), ("ours, 1 process", single),
                              ("ours, 2 processes", both)):
                rows.append((size, mb, name, run, cook))
    print(f"best of {REPEATS} runs each (wall clock); CPU s: user+system of all its processes, which other load on a "
          "shared machine does not inflate much")
    print(f"{'examples':>9} {'file MB':>8}  {'approach':<18} {'examples/s':>11} {'vs cookbook':>11} {'CPU s':>7} "
          f"{'CPU vs cookbook':>15} {'peak RSS MB':>12} {'same counts':>11}")
    for size, mb, name, run, cook in rows:
        rate = size / run["seconds"]
        speedup = cook["seconds"] / run["seconds"]
        rss = run["rss_mb"] + (run["child_rss_mb"] if name.endswith("2 processes") else 0)  # fork: counts shared pages twice
        same = "yes" if {k: v for k, v in run["counts"].items() if k != "errors"} == \
            {k: v for k, v in cook["counts"].items() if k != "errors"} else "NO"
        print(f"{size:>9,} {mb:>8.1f}  {name:<18} {rate:>11,.0f} {speedup:>10.2f}x {run['cpu_s']:>7.2f} "
              f"{cook['cpu_s'] / run['cpu_s']:>14.2f}x {rss:>12.1f} {same:>11}")
    by = {(size, name): run for size, _, name, run, _ in rows}
    if len(sizes) < 2:
        return
    for name in ("ours, 1 process", "ours, 2 processes"):
        small, large = by[(sizes[0], name)], by[(sizes[-1], name)]
        print(f"{name}: peak RSS of the parent, {sizes[-1]:,} vs {sizes[0]:,} examples: "
              f"{large['rss_mb']:.1f} / {small['rss_mb']:.1f} MB = {large['rss_mb'] / small['rss_mb']:.3f}"
              + (f"; each worker {large['child_rss_mb']:.1f} / {small['child_rss_mb']:.1f} MB"
                 if name.endswith("2 processes") else ""))
    cook_small, cook_large = by[(sizes[0], "cookbook")], by[(sizes[-1], "cookbook")]
    print(f"cookbook: peak RSS {cook_large['rss_mb']:.1f} / {cook_small['rss_mb']:.1f} MB = "
          f"{cook_large['rss_mb'] / cook_small['rss_mb']:.3f}")


if __name__ == "__main__":
    main()
