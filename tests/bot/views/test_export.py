"""The note with `/finetune export`'s file says what is in it, what was left out, and what is held out."""
from __future__ import annotations

from bot.views.export import export_comment
from finetune.pipeline import TrainingFile


def test_the_note_counts_the_examples_and_the_held_out_ones():
    training = TrainingFile("f.jsonl", b"{}\n" * 45, 45, [{"reply_id": 7, "problems": ["message 1 (user) has no text"]}],
                            "openai", held_out=5)
    note = export_comment(training)
    assert "45 example(s), 135 bytes." in note
    assert "5 more are held out: they go with the job as its validation file." in note
    assert "• reply 7: message 1 (user) has no text" in note
    assert "held out" not in export_comment(TrainingFile("f.jsonl", b"{}\n", 1, [], "openai"))
