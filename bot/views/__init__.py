"""Everything the bot shows in Slack, one module per surface, built from plain values (no Slack calls)."""
