"""A person hands the validator a training file, written by the bot or by hand, and learns whether OpenAI
would take it, what is wrong on which line, and what training on it would cost."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune.prices import DEFAULT_PRICES, PriceTableError, load_prices, price_for
from finetune.validator import ProblemKind, Rules, auto_epochs, validate_file, validate_text
from tests.support.training_files import COOKBOOK_MESSAGES, chat, dpo, good_rows, jsonl

GPT4 = Rules(model="gpt-4-0613", max_example_tokens=65_536)
MINI = Rules(model="gpt-4.1-mini-2025-04-14", max_example_tokens=65_536)


def kinds(report) -> list[tuple[int | None, ProblemKind]]:
    return [(p.line, p.kind) for p in report.problems]


def test_a_good_chat_file_is_usable_with_its_statistics():
    report = validate_text(jsonl(*good_rows()), MINI)
    assert report.usable and report.errors == 0 and report.warnings == 0
    assert report.examples == 12 and report.lines == 12 and report.format == "chat"
    assert report.encoding == "o200k_base" and report.exact
    assert report.epochs == 8  # 12 x 3 < 100: raised to 100 // 12
    assert report.tokens is not None and report.tokens.min <= report.tokens.median <= report.tokens.p95 <= report.tokens.max


def test_token_counts_match_what_openai_published():
    # the cookbook's conversation is 129 tokens with gpt-4 (the API's own count, reply priming included);
    # an assistant turn adds 3 + 1 ("assistant") + 6 ("tiktoken is great!")
    example = {"messages": [*COOKBOOK_MESSAGES, {"role": "assistant", "content": "tiktoken is great!"}]}
    report = validate_text(jsonl(*[example] * 1, *good_rows(10)), GPT4)
    assert report.tokens is not None and report.tokens.max == 129 + 10


def test_each_error_is_named_with_its_line_and_makes_the_file_unusable():
    rows = [
        *good_rows(10),
        '{"messages": [{"role": "user", "content": "unterminated"}',  # 11
        "",  # 12
        {"messages": []},  # 13
        {"prompt": "a legacy completion file"},  # 14
        {"messages": [{"role": "bot", "content": "hi"}, {"role": "assistant", "content": "x"}]},  # 15
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant"}]},  # 16
        {"messages": [{"role": "user", "content": "q"}]},  # 17
        chat("q", "a", weight=0.5),  # 18
        chat("q", "a", mood="cheerful"),  # 19
        [1, 2],  # 20
    ]
    report = validate_text(jsonl(*rows), MINI)
    assert not report.usable
    assert kinds(report) == [
        (11, ProblemKind.INVALID_JSON), (12, ProblemKind.INVALID_JSON), (13, ProblemKind.MISSING_MESSAGES),
        (14, ProblemKind.UNKNOWN_KEY), (14, ProblemKind.MISSING_MESSAGES), (15, ProblemKind.UNKNOWN_ROLE),
        (16, ProblemKind.MISSING_CONTENT), (17, ProblemKind.NO_ASSISTANT), (18, ProblemKind.BAD_WEIGHT),
        (19, ProblemKind.UNKNOWN_KEY), (20, ProblemKind.NOT_AN_OBJECT),
    ]
    details = [p.text() for p in report.problems]
    assert "line 12: an empty line" in details
    assert "line 15: message 0 has an unknown role 'bot'" in details
    assert "line 18: message 2 has a weight 0.5: only 0 or 1 is allowed" in details
    assert "line 19: message 2 has unknown key(s) 'mood'" in details
    assert report.examples == 10  # the broken lines are not examples


def test_weights_must_be_0_or_1_and_only_on_assistant_messages():
    on_user = {"messages": [{"role": "user", "content": "q", "weight": 1}, {"role": "assistant", "content": "a"}]}
    all_zero = chat("q", "a", weight=0)
    report = validate_text(jsonl(*good_rows(10), chat("q", "a", weight=True), on_user, all_zero, chat("q2", "a", weight=0) | {
        "messages": [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "a", "weight": 0},
                     {"role": "user", "content": "more"}, {"role": "assistant", "content": "b", "weight": 1}]}), MINI)
    assert kinds(report) == [(11, ProblemKind.BAD_WEIGHT), (12, ProblemKind.BAD_WEIGHT), (13, ProblemKind.NO_ASSISTANT)]
    assert report.examples == 11  # the multi-turn example with an untrained earlier answer is fine


def test_duplicates_and_over_long_examples_are_warnings_and_the_file_stays_usable():
    long_answer = " hello" * 100  # 100 tokens; with the system (3 + 1 + 4) and user (3 + 1 + 1) turns, the
    # assistant's framing (3 + 1) and the reply priming (3): 120
    rows = [*good_rows(10), good_rows()[3], chat("q", long_answer)]
    report = validate_text(jsonl(*rows), Rules(model="gpt-4.1-mini", max_example_tokens=60))
    assert report.usable and report.errors == 0 and report.warnings == 2
    assert [p.text() for p in report.problems] == [
        "line 11: the same example as line 4", "line 12: 120 tokens, over the limit of 60",
    ]
    assert report.tokens is not None and report.tokens.max == 120
    # billed: each example up to the limit, times the epochs
    assert report.billed_tokens == (report.tokens.total - 120 + 60) * report.epochs


def test_too_few_examples_make_a_file_unusable():
    report = validate_text(jsonl(*good_rows(9)), MINI)
    assert not report.usable
    assert kinds(report) == [(None, ProblemKind.TOO_FEW_EXAMPLES)]
    assert report.summary() == "9 usable example(s): at least 10 are needed"


def test_a_dpo_file_is_checked_in_openais_preference_format():
    rows = [dpo(f"Review gadget {i}", f"Gadget {i} is great!", "Meh.") for i in range(10)]
    report = validate_text(jsonl(*rows), MINI)
    assert report.usable and report.format == "dpo" and report.examples == 10
    broken = [
        {"input": {"messages": []}, "preferred_output": [{"role": "assistant", "content": "a"}],
         "non_preferred_output": [{"role": "assistant", "content": "b"}]},
        {"input": {"messages": [{"role": "user", "content": "q"}]}, "preferred_output": [{"role": "assistant", "content": "a"}]},
        dpo("q", "a", "b") | {"chosen": "a"},
        {"input": {"messages": [{"role": "user", "content": "q"}]}, "preferred_output": [{"role": "user", "content": "a"}],
         "non_preferred_output": [{"role": "assistant", "content": ""}]},
    ]
    report = validate_text(jsonl(*rows, *broken), MINI)
    assert kinds(report) == [(11, ProblemKind.MISSING_MESSAGES), (12, ProblemKind.NO_ASSISTANT),
                             (13, ProblemKind.UNKNOWN_KEY), (14, ProblemKind.NO_ASSISTANT), (14, ProblemKind.MISSING_CONTENT)]
    assert "line 12: non_preferred_output is missing or empty" in [p.text() for p in report.problems]


def test_a_file_mixing_chat_and_dpo_examples_is_unusable():
    report = validate_text(jsonl(*good_rows(10), dpo("q", "a", "b")), MINI)
    assert not report.usable
    assert report.problems[0].detail == "the file mixes chat examples (first at line 1) and DPO examples (first at line 11)"


@pytest.mark.parametrize(("examples", "epochs"), [
    (1, 25), (3, 25), (4, 25), (5, 20), (10, 10), (33, 3), (34, 3), (8_333, 3), (8_334, 2), (12_500, 2),
    (12_501, 1), (30_000, 1), (0, None),
])
def test_epochs_are_the_ones_openais_auto_picks(examples, epochs):
    assert auto_epochs(examples) == epochs


def test_the_cost_comes_from_the_price_table_and_a_file_can_change_it(tmp_path):
    report = validate_text(jsonl(*good_rows(100)), MINI)
    assert report.epochs == 3 and report.price_per_million == DEFAULT_PRICES["gpt-4.1-mini"] == 5.00
    assert report.estimated_cost == pytest.approx(report.billed_tokens * 5.00 / 1_000_000)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gpt-4.1-mini-2025-04-14": 4.0, "my-model": 1.0}))
    table = load_prices(prices)
    assert price_for("ft:gpt-4.1-mini-2025-04-14:acme::x", table) == 4.0  # the longest matching key wins
    assert price_for("gpt-4.1-mini", table) == 5.0 and price_for("gpt-4.1-2025-04-14", table) == 25.0
    assert price_for("Qwen/Qwen3-8B", table) is None
    unknown = validate_text(jsonl(*good_rows(10)), Rules(model="Qwen/Qwen3-8B", max_example_tokens=32_768))
    assert unknown.estimated_cost is None and not unknown.exact
    assert "the price table has no entry for Qwen/Qwen3-8B" in unknown.text()


@pytest.mark.parametrize("content", ["[1, 2]", '{"gpt-4.1": "cheap"}', "not json", '{"gpt-4.1": -1}'])
def test_a_bad_price_file_is_named(tmp_path, content):
    prices = tmp_path / "prices.json"
    prices.write_text(content)
    with pytest.raises(PriceTableError, match="the price file"):
        load_prices(prices)


def test_the_report_reads_as_json_and_as_text():
    report = validate_text(jsonl(*good_rows(10), "{oops"), MINI, source="hand.jsonl")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["usable"] is False and data["examples"] == 10 and data["lines"] == 11
    assert data["errors"] == [{"kind": "invalid_json", "line": 11,
                               "detail": "invalid JSON: Expecting property name enclosed in double quotes (column 2)"}]
    assert data["tokens"]["total"] == report.tokens.total and data["epochs"] == 10
    text = report.text()
    assert text.startswith("hand.jsonl: chat, 11 line(s); NOT usable: 1 error(s), 0 warning(s)")
    assert "line 11: invalid JSON" in text and "epochs (OpenAI's auto): 10" in text


def test_a_large_file_split_over_two_processes_reports_exactly_what_one_process_does(tmp_path: Path):
    rows: list[Any] = []
    for i in range(3_000):
        rows.append(chat(f"Review this product: gadget {i % 2_500}", f"Gadget {i % 2_500} is great! " * (1 + i % 2_500 % 7)))
        if i % 997 == 0:
            rows.append("{broken")
    path = tmp_path / "big.jsonl"
    path.write_text(jsonl(*rows))
    one, two = validate_file(path, MINI, workers=1), validate_file(path, MINI, workers=2)
    assert two.to_dict() == one.to_dict()
    assert one.counts[ProblemKind.INVALID_JSON] == 4 and one.counts[ProblemKind.DUPLICATE] == 500
    # duplicates are found across the two halves: gadget 2,500 onwards repeat the first ones
    assert any(p.kind is ProblemKind.DUPLICATE for p in two.problems)


def test_only_a_few_problems_of_each_kind_are_listed_but_all_are_counted():
    report = validate_text(jsonl(*good_rows(10), *["{bad"] * 50), MINI)
    assert report.counts[ProblemKind.INVALID_JSON] == 50
    assert len([p for p in report.problems if p.kind is ProblemKind.INVALID_JSON]) == 20
    assert "...and 30 more" in report.text()


def test_what_a_hand_written_file_holds_is_quoted_short():
    odd = {"messages": [{"role": "r" * 500, "content": "q"}, {"role": "assistant", "content": "a"}], "k" * 500: 1}
    report = validate_text(jsonl(*good_rows(10), odd), MINI)
    assert [p.kind for p in report.problems] == [ProblemKind.UNKNOWN_KEY, ProblemKind.UNKNOWN_ROLE]
    assert all(len(p.detail) < 120 for p in report.problems)


def test_a_worker_that_dies_without_its_share_is_one_clear_error_not_a_hang():
    import multiprocessing
    import os

    from finetune.validator import _share_result

    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(target=os._exit, args=(9,))
    worker.start()
    sender.close()  # as validate_file does: only the worker holds the sending end
    with pytest.raises(RuntimeError, match=r"a validation worker ended without its result \(exit status 9\)"):
        _share_result(worker, receiver)
