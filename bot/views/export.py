"""`/finetune export`: the note that goes with the training file in the person's DMs."""
from __future__ import annotations

from finetune.pipeline import TrainingFile

MAX_LISTED = 10  # left-out examples listed by reason; the rest are counted
MAX_REPORT_CHARS = 2_500  # of the validation report in the message (Slack caps a file comment's length)


def export_comment(training: TrainingFile, report: str | None = None) -> str:
    lines = [f":package: The training file a `{training.backend}` job would upload now: "
             f"{training.examples} example(s), {len(training.content):,} bytes."]
    if training.held_out:
        lines.append(f"{training.held_out} more are held out: they go with the job as its validation file.")
    if training.skipped:
        lines.append(f"{len(training.skipped)} approved example(s) left out:")
        for skipped in training.skipped[:MAX_LISTED]:
            lines.append(f"• reply {skipped['reply_id']}: {'; '.join(skipped['problems'])}")
        if len(training.skipped) > MAX_LISTED:
            lines.append(f"• …and {len(training.skipped) - MAX_LISTED} more")
    if report:
        if len(report) > MAX_REPORT_CHARS:
            report = report[:MAX_REPORT_CHARS].rsplit("\n", 1)[0] + "\n…(cut here: `finetune-bot validate` shows it all)"
        lines += ["", "*Validation report*", f"```{report}```"]
    return "\n".join(lines)


SENT = "I've sent you the training file and its report in a direct message."
EMPTY = "There are no approved examples yet, so there is no training file to send."
