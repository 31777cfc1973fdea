"""What people paste into Slack never reaches a training file: personal data and secrets become placeholders,
and the ordinary words of a product review stay exactly as they were."""
from __future__ import annotations

import json
import re

import pytest

from finetune.backend import Capabilities
from finetune.backends.openai import OPENAI_MAX_EXAMPLE_TOKENS
from finetune.data_redaction import Redactor, luhn_valid, parse_patterns
from finetune.pipeline import PipelineConfig, build_files
from storage import queries
from tests.support.factories import BASE, answered_reply

# (what someone wrote, the placeholder it becomes)
SENSITIVE = [
    ("jane.doe+shop@example.co.uk", "[EMAIL]"),
    ("<mailto:bob@corp.io|bob@corp.io>", "[EMAIL]"),
    ("+44 20 7946 0958", "[PHONE]"),
    ("(555) 123-4567", "[PHONE]"),
    ("555-123-4567", "[PHONE]"),
    ("555.123.4567", "[PHONE]"),
    ("020 7946 0958", "[PHONE]"),
    ("<tel:+14155552671|+1 415 555 2671>", "[PHONE]"),
    ("4111 1111 1111 1111", "[CARD]"),
    ("4242-4242-4242-4242", "[CARD]"),
    ("5555555555554444", "[CARD]"),
    ("378282246310005", "[CARD]"),
    ("<@U024BE7LH>", "[USER]"),
    ("<@W0123ABCD|jane>", "[USER]"),
    ("<#C024BE7LH|general>", "[CHANNEL]"),
    ("<!subteam^SAZ94GDB8|@headphone-team>", "[GROUP]"),
    ("<!here>", "[MENTION]"),
    ("<!channel>", "[MENTION]"),
    ("<!everyone>", "[MENTION]"),
    ("https://admin:hunter2@db.example.com/orders", "[URL]"),
    ("https://shop.example.com/callback?code=4f9a2c&state=xyz", "[URL]"),
    ("https://files.example.com/manual.pdf?X-Amz-Signature=deadbeef01", "[URL]"),
    ("https://api.example.io/v1/items?api_key=zz9812kk", "[URL]"),
    ("sk-proj-abc123DEF456ghi789JKL012", "[SECRET]"),
    ("sk-abcdefghijklmnop1234", "[SECRET]"),
    ("xoxb-123456789012-1234567890123-abcdefABCDEF", "[SECRET]"),
    ("xoxp-1-2-3-abcdef1234", "[SECRET]"),
    ("xapp-1-A0123BCD-4567890-abcdef", "[SECRET]"),
    ("AKIAIOSFODNN7EXAMPLE", "[SECRET]"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "[SECRET]"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[SECRET]"),
    ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc123", "[SECRET]"),
]
# Ordinary text a review is made of: none of it may change.
ORDINARY = [
    "It costs $1,299.99 (was €1.499,00), or £349 on sale",
    "Released on 2026-12-02 at 10:03, shipped 12/02/2026, reviewed 02.12.2026",
    "The Sony WH-1000XM5 beats the WH-1000XM4 and the Bose QC45",
    "Firmware version 2.14.1 (build 1.2.3.4) fixes the app on iOS 17.2",
    "RTX 4090 with 24 GB, 5,000 mAh battery, 30 hours, 8 microphones",
    "ISBN 978-3-16-148410-0, order #1234567, tracking 1Z999AA10123456784",
    "Model KD-65X85L, 3-pack for 19.99, the 2026-2027 range",
    "Pair it at https://example.com/products/headphones?color=black&size=m",
    "Ask @alice in the thread; SK-II essence; task-management app",
]


def redacted_file(db, clock, texts: list[str], redactor: Redactor = Redactor()) -> str:
    """Each text is in an approved reply and in the question before it; the JSONL a job would upload."""
    with db.session() as session:
        for n, text in enumerate(texts):
            reply = answered_reply(session, clock, n, model=BASE, text=f"Here you go: {text} — enjoy!",
                                   messages=[{"role": "system", "content": "Be upbeat."},
                                             {"role": "user", "content": f"Review {n}, from {text}"}])
            queries.add_approval(session, reply, "U2", "+1", clock.now())
    with db.session() as session:
        built = build_files(session, PipelineConfig(base_model=BASE, redactor=redactor, holdout_min=0),
                            Capabilities(min_examples=1, max_example_tokens=OPENAI_MAX_EXAMPLE_TOKENS))
    assert not built.skipped and not built.merged
    return built.jsonl


def test_no_personal_data_or_secret_reaches_the_training_file(db, clock):
    jsonl = redacted_file(db, clock, [text for text, _ in SENSITIVE])
    for text, _ in SENSITIVE:
        assert text not in jsonl
        assert json.dumps(text)[1:-1] not in jsonl  # nor in its JSON-escaped form
    lines = [json.loads(line) for line in jsonl.splitlines()]
    for n, ((text, placeholder), line) in enumerate(zip(SENSITIVE, lines, strict=True)):
        user, answer = line["messages"][1]["content"], line["messages"][2]["content"]
        assert user == f"Review {n}, from {placeholder}", text
        assert answer == f"Here you go: {placeholder} — enjoy!", text


def test_ordinary_review_text_is_left_exactly_as_written(db, clock):
    jsonl = redacted_file(db, clock, ORDINARY)
    lines = [json.loads(line) for line in jsonl.splitlines()]
    assert [line["messages"][2]["content"] for line in lines] == [f"Here you go: {t} — enjoy!" for t in ORDINARY]


def test_extra_patterns_from_the_setting_are_redacted_too(db, clock):
    redactor = Redactor(parse_patterns(r"ORD-\d{6} || (?i)project\s+falcon"))
    jsonl = redacted_file(db, clock, ["order ORD-123456 for Project Falcon", "ORD-12 is not an order"], redactor)
    assert "ORD-123456" not in jsonl and "Falcon" not in jsonl
    assert "order [REDACTED] for [REDACTED]" in jsonl
    assert "ORD-12 is not an order" in jsonl


def test_card_numbers_are_checked_so_other_long_numbers_stay():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    redact = Redactor()
    assert redact("card 4111 1111 1111 1111.") == "card [CARD]."
    assert redact("serial 4111 1111 1111 1112.") == "serial 4111 1111 1111 1112."


@pytest.mark.parametrize(("raw", "why"), [
    ("ORD-(", "pattern 1 ('ORD-(') is not a regular expression"),
    (r"ok\d+ || .*", "pattern 2 ('.*') matches empty text"),
])
def test_a_bad_extra_pattern_is_named(raw, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_patterns(raw)
