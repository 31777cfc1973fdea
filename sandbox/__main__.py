"""`python -m sandbox`: the offline try-it mode. Both stand-ins, the real bot wired to them, the web playground.

`--demo` plays the whole loop by script instead and prints the transcript; `--reset` starts clean.
This is a development tool in the repository, not part of the installed bot.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from bot.logs import configure_logging

BANNER = """
  Offline sandbox: no Slack workspace or OpenAI key needed.
  Open {url} in your browser.

  Ask the bot (@finetune-bot Review this product: ...), click Good answer (or react with a thumbs-up)
  on replies you like, Improve on those you would write differently, then type /finetune run (or wait
  for the tick, every minute here) and watch the model swap.
  Self-approval is on here (ALLOW_SELF_APPROVAL=true): you may approve your own improved answers.
  In a real workspace it is off, and someone else has to approve what a person wrote.
  alice is the workspace's owner, so she may run /finetune run; bob may not.
  Data is kept in data/sandbox.db and data/sandbox-standins.json; `python -m sandbox --reset`
  starts clean. Ctrl-C stops.
"""


def serve(port: int, *, reset: bool) -> int:
    from sandbox.offline import SANDBOX_DB, sandbox_database_url, sandbox_stack, sandbox_state_path
    from sandbox.persistence import StatePersister
    from sandbox.playground.server import Playground

    stack = sandbox_stack(sandbox_database_url(SANDBOX_DB, reset=reset))
    # The stand-ins come back as they were left before the bot starts, so its remembered model exists.
    persister = StatePersister(sandbox_state_path(SANDBOX_DB), stack).start()
    try:
        stack.start()
    except BaseException:
        persister.stop()
        raise
    try:
        playground = Playground(stack, port=port).start()
    except OSError as exc:
        stack.stop()
        persister.stop()
        print(f"SANDBOX_PORT {port} is not free ({exc.strerror}); set SANDBOX_PORT to another port", file=sys.stderr)
        return 2
    print(BANNER.format(url=playground.url), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping the sandbox", file=sys.stderr)
    finally:
        playground.stop()
        stack.stop()
        persister.stop()  # after the bot: its last replies and reactions are in the file
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--reset", action="store_true", help="start clean: forget the sandbox database and the stand-ins' saved state")
    parser.add_argument("--demo", action="store_true", help="play the loop by script and print the transcript")
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("LOG_LEVEL", "WARNING" if args.demo else "INFO").upper())
    if args.demo:
        from sandbox.demo import run_demo

        return run_demo(sys.stdout)
    raw_port = os.environ.get("SANDBOX_PORT") or "8000"
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        print(f"SANDBOX_PORT={raw_port!r} is not a port number", file=sys.stderr)
        return 2
    return serve(int(raw_port), reset=args.reset)


if __name__ == "__main__":
    sys.exit(main())
