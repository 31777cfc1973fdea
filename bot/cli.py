"""finetune-bot: run | status | export PATH | migrate | sandbox (also `python -m bot`)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.config import ConfigError, Settings, has_slack_credentials, load_settings, read_environment
from bot.logs import configure_logging

log = logging.getLogger("bot.cli")

SANDBOX_BANNER = """
  Offline sandbox: no Slack workspace or OpenAI key needed.
  Open {url} in your browser.

  Ask the bot (@finetune-bot Review this product: ...), react with a thumbs-up on replies you like,
  then type /finetune run (or wait for the tick, every minute here) and watch the model swap.
  Data is kept in data/sandbox.db and data/sandbox-standins.json; `finetune-bot sandbox --reset`
  starts clean. Ctrl-C stops.
"""

NO_CREDENTIALS = """\
No Slack credentials are set, so there is no workspace to connect to.
To run the real bot, set these (in the environment or in a .env file; see README.md, "Slack app set-up"):
  SLACK_BOT_TOKEN=xoxb-...       the bot token from OAuth & Permissions
  SLACK_APP_TOKEN=xapp-...       an app-level token with connections:write (Socket Mode), or instead
  SLACK_SIGNING_SECRET=...       for HTTP mode on PORT (default 3000), path /slack/events
  OPENAI_API_KEY=sk-...          for replies and fine-tuning
"""


def _settings(env: Mapping[str, str], *, require_credentials: bool) -> Settings:
    settings = load_settings(env, require_credentials=require_credentials)
    configure_logging(settings.log_level, settings.secrets())
    return settings


def cmd_run(env: Mapping[str, str]) -> int:
    if not has_slack_credentials(env):
        print(NO_CREDENTIALS, file=sys.stderr)
        print("Starting the offline sandbox instead, so you can try the whole loop here.\n", file=sys.stderr)
        return cmd_sandbox(env, reset=False, demo=False)
    from bot.app import HttpServer, create_app, socket_mode_handler
    from bot.services import build_services

    settings = _settings(env, require_credentials=True)
    services = build_services(settings)
    app = create_app(services)
    services.scheduler.start()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if settings.socket_mode:
            log.info("starting in Socket Mode; reply model %s", services.pipeline.active_model())
            socket_mode_handler(app, services).start()
        else:
            server = HttpServer(app, "0.0.0.0", settings.port)
            log.info("listening for Slack on port %s at /slack/events; reply model %s", server.port, services.pipeline.active_model())
            server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        services.close()
    return 0


def cmd_sandbox(env: Mapping[str, str], *, reset: bool, demo: bool) -> int:
    """Both stand-ins, the real bot wired to them, and the web playground; or the scripted demo."""
    configure_logging(env.get("LOG_LEVEL", "WARNING" if demo else "INFO").upper())
    if demo:
        from sandbox.demo import run_demo

        return run_demo(sys.stdout)
    import time

    from sandbox.offline import SANDBOX_DB, sandbox_database_url, sandbox_stack, sandbox_state_path
    from sandbox.persistence import StatePersister
    from sandbox.playground.server import Playground

    raw_port = env.get("SANDBOX_PORT") or "8000"
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ConfigError([f"SANDBOX_PORT={raw_port!r} is not a port number"])
    stack = sandbox_stack(sandbox_database_url(SANDBOX_DB, reset=reset))
    # The stand-ins come back as they were left before the bot starts, so its remembered model exists.
    persister = StatePersister(sandbox_state_path(SANDBOX_DB), stack).start()
    try:
        stack.start()
    except BaseException:
        persister.stop()
        raise
    try:
        playground = Playground(stack, port=int(raw_port)).start()
    except OSError as exc:
        stack.stop()
        persister.stop()
        raise ConfigError([f"SANDBOX_PORT {raw_port} is not free ({exc.strerror}); set SANDBOX_PORT to another port"]) from exc
    print(SANDBOX_BANNER.format(url=playground.url), flush=True)
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


def cmd_status(env: Mapping[str, str]) -> int:
    from bot.listeners.commands import status_text
    from bot.services import build_services

    services = build_services(_settings(env, require_credentials=False))
    try:
        print(status_text(services))
    finally:
        services.close()
    return 0


def cmd_export(env: Mapping[str, str], path: str) -> int:
    """Writes the approved examples as training JSONL, the same bytes a job would upload."""
    from finetune.dataset import build_dataset
    from storage import queries
    from storage.db import Database

    settings = _settings(env, require_credentials=False)
    db = Database(settings.database_url)
    db.migrate()
    with db.session() as session:
        built = build_dataset(queries.approved_replies(session))
    if path == "-":
        sys.stdout.write(built.jsonl)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(built.jsonl, encoding="utf-8")
    print(f"{len(built)} example(s) written to {path}; {len(built.skipped)} skipped", file=sys.stderr)
    for skipped in built.skipped:
        print(f"  reply {skipped['reply_id']}: {'; '.join(skipped['problems'])}", file=sys.stderr)
    db.dispose()
    return 0


def cmd_migrate(env: Mapping[str, str]) -> int:
    from storage.db import Database

    settings = _settings(env, require_credentials=False)
    db = Database(settings.database_url)
    db.migrate()
    print(f"database {db!r} is at revision {db.current_revision()}")
    db.dispose()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="finetune-bot", description=__doc__)
    sub = root.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (Socket Mode with SLACK_APP_TOKEN, else HTTP on PORT)")
    sub.add_parser("status", help="print where the reply model and fine-tuning stand")
    export = sub.add_parser("export", help="write the approved examples as training JSONL")
    export.add_argument("path", help="file to write, or - for standard output")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    sandbox = sub.add_parser("sandbox", help="try the whole loop offline, in a web playground")
    sandbox.add_argument("--reset", action="store_true", help="start clean: forget the sandbox database and the stand-ins' saved state")
    sandbox.add_argument("--demo", action="store_true", help="play the loop by script and print the transcript")
    return root


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    environment = read_environment(env)
    try:
        if args.command == "status":
            return cmd_status(environment)
        if args.command == "export":
            return cmd_export(environment, args.path)
        if args.command == "migrate":
            return cmd_migrate(environment)
        if args.command == "sandbox":
            return cmd_sandbox(environment, reset=args.reset, demo=args.demo)
        return cmd_run(environment)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
