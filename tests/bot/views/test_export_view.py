"""The note beside the training file `/finetune export` sends: what was left out, and the validation report."""
from __future__ import annotations

from bot.views.export import MAX_REPORT_CHARS, export_comment
from finetune.pipeline import TrainingFile
from finetune.validator import Rules, validate_text
from tests.support.training_files import good_rows, jsonl

RULES = Rules(model="gpt-4.1-mini-2025-04-14", max_example_tokens=65_536)


def training(content: str) -> TrainingFile:
    report = validate_text(content, RULES, source="finetune-bot-openai-training.jsonl")
    return TrainingFile("finetune-bot-openai-training.jsonl", content.encode(), report.examples,
                        [{"reply_id": 7, "problems": ["the example has no user message"]}], "openai", report)


def test_the_note_carries_the_report_the_upload_step_acts_on():
    file = training(jsonl(*good_rows(12)))
    assert file.report is not None
    note = export_comment(file, file.report.text())
    assert "The training file a `openai` job would upload now: 12 example(s)" in note
    assert "• reply 7: the example has no user message" in note
    assert "*Validation report*\n```finetune-bot-openai-training.jsonl: chat, 12 line(s); usable" in note
    assert "epochs (OpenAI's auto): 8" in note and "estimated cost: $" in note


def test_a_long_report_is_cut_with_a_pointer_to_the_whole_one():
    odd_keys = [good_rows(1)[0] | {f"a_key_nobody_expects_number_{i}_" + "x" * 100: 1} for i in range(25)]
    file = training(jsonl(*good_rows(10), *odd_keys, *["{broken"] * 25))
    assert file.report is not None and len(file.report.text()) > MAX_REPORT_CHARS
    note = export_comment(file, file.report.text())
    assert "…(cut here: `finetune-bot validate` shows it all)```" in note
    assert len(note) < MAX_REPORT_CHARS + 600
