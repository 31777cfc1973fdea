"""finetune-bot: run | worker | status | validate FILE | export PATH | migrate (also `python -m bot`).

The offline sandbox is not part of the product: it lives in the repository's sandbox/ (`python -m sandbox`,
or `make run` with no Slack credentials set).
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from bot.backend_checks import BackendNotReady
from bot.config import ConfigError, Settings, has_slack_credentials, load_settings, read_environment
from bot.failures import describe
from bot.logs import configure_logging

log = logging.getLogger("bot.cli")

NO_CREDENTIALS = """\
finetune-bot run: no Slack credentials are set, so there is no workspace to connect to.
Set these (in the environment or in a .env file; see README.md, "Setting up the Slack app"):
  SLACK_BOT_TOKEN=xoxb-...       the bot token from OAuth & Permissions
  SLACK_APP_TOKEN=xapp-...       an app-level token with connections:write (Socket Mode), or instead
  SLACK_SIGNING_SECRET=...       for HTTP mode on PORT (default 3000), path /slack/events
  OPENAI_API_KEY=sk-...          for replies and fine-tuning
To try the bot offline instead, run `make run` (or `python -m sandbox`) in a checkout of the repository."""

SANDBOX_MOVED = (
    "The offline sandbox is not part of the installed bot any more: in a checkout of the repository, run "
    "`make run` with no Slack credentials set, or `python -m sandbox` (--demo, --reset)."
)


def _settings(env: Mapping[str, str], *, require_credentials: bool) -> Settings:
    settings = load_settings(env, require_credentials=require_credentials)
    configure_logging(settings.log_level, settings.secrets())
    return settings


def cmd_run(env: Mapping[str, str]) -> int:
    """Fails closed: without Slack credentials it says what to set and exits; it never starts a fake Slack."""
    if not has_slack_credentials(env):
        print(NO_CREDENTIALS, file=sys.stderr)
        return 2
    from bot import reply_process
    from bot.app import HttpServer, create_app, settle_for_serving, socket_mode_handler
    from bot.backend_checks import check_backend, check_method
    from bot.services import build_services
    from bot.startup import check_slack, prepare

    settings = _settings(env, require_credentials=True)
    check_backend(settings)
    replies = None
    if settings.reply_process and reply_process.available():
        replies = reply_process.ReplyProcess.start(settings)  # forked first, while no thread exists
    services = build_services(settings)
    if replies is not None:
        assert services.replies is not None
        replies.answer_here_if_gone(services.replies)
        services.replies = replies
    worker = None
    try:
        check_method(settings, services.pipeline.backend.capabilities)
        prepare(services)
        check_slack(services)
        app = create_app(services)
        if settings.backend == "local" and settings.local_worker == "inside":
            from bot.training_worker import WorkerThread, build_worker

            worker = WorkerThread(build_worker(settings, services.db, services.clock))
            worker.start()
        services.scheduler.start()
        settle_for_serving(answers_here=replies is None)
        signal.signal(signal.SIGTERM, _stop)
        model = services.reply_model.current()
        if settings.socket_mode:
            log.info("starting in Socket Mode; reply model %s", model)
            socket_mode_handler(app, services).start()
        else:
            server = HttpServer(app, "0.0.0.0", settings.port, signing_secret=settings.slack_signing_secret)
            log.info("listening for Slack on port %s at /slack/events; reply model %s", server.port, model)
            server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        if replies is not None:
            replies.stop()  # the answers it was handed first; this process's clients stay open meanwhile
        if worker is not None:
            worker.stop()
        services.close()
    return 0


def cmd_worker(env: Mapping[str, str]) -> int:
    """The local backend's training worker: takes queued runs from the shared database, one at a time."""
    import threading

    from bot.backend_checks import local_training_problems
    from bot.training_worker import IDLE_SECONDS, build_worker
    from finetune.clock import SystemClock
    from storage.db import Database, require_ready

    settings = _settings(env, require_credentials=False)
    if problems := local_training_problems(settings):
        raise BackendNotReady(problems)
    database = require_ready(settings.database_url)  # the bot creates and migrates it; the worker only joins
    db = Database(settings.database_url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        worker = build_worker(settings, db, SystemClock())
        log.info("training worker %s on %s; adapters go to %s", worker.name, database, settings.local_adapters_dir)
        worker.run_forever(stop, IDLE_SECONDS)
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        db.dispose()
    return 0


def _stop(*_: object) -> NoReturn:
    raise KeyboardInterrupt


def cmd_status(env: Mapping[str, str]) -> int:
    """Read-only: reports on an existing database and never creates or migrates one."""
    from bot.listeners.commands import status_text
    from bot.services import build_services
    from storage.db import require_ready

    settings = _settings(env, require_credentials=False)
    database = require_ready(settings.database_url)
    services = build_services(settings)
    try:
        print(f"Database: {database}")
        print(status_text(services.pipeline, services.scheduler, settings, services.clock))
    finally:
        services.close()
    return 0


def cmd_validate(env: Mapping[str, str], path: str, *, as_json: bool, model: str | None) -> int:
    """Checks any chat or DPO training file against the configured backend's rules: 0 usable, 1 not."""
    from finetune.validator import validate_file

    settings = _settings(env, require_credentials=False)
    rules = _validation_rules(settings, model)
    try:
        report = validate_file(path, rules)
    except OSError as exc:
        print(f"finetune-bot validate: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2) if as_json else report.text())
    return 0 if report.usable else 1


def _validation_rules(settings: Settings, model: str | None = None) -> Any:
    """The configured backend's limits and the model's tokenizer and price (finetune.validator.Rules).

    The backend is built only to read its rules: its database handle is never connected, so nothing is created.
    """
    from bot.services import BackendFactory, tokenizer_dir
    from finetune.clock import SystemClock
    from finetune.validator import Rules
    from storage.db import Database

    db = Database(settings.database_url, create_folder=False)
    factory = BackendFactory(settings, db, SystemClock())
    try:
        caps = factory(settings.backend).capabilities
    finally:
        factory.close()
        db.dispose()
    return Rules.of(caps, model or settings.base_model, model_dir=None if model else tokenizer_dir(settings),
                    prices=settings.prices)


def cmd_export(env: Mapping[str, str], path: str) -> int:
    """Writes the approved examples as training JSONL, the same bytes a job would upload, and the validation
    report the upload step would act on (PATH's .report.txt beside it; on stderr with `-`). Read-only."""
    from bot.services import BackendFactory, pipeline_config
    from finetune.clock import SystemClock
    from finetune.pipeline import training_file
    from storage.db import Database, require_ready

    settings = _settings(env, require_credentials=False)
    database = require_ready(settings.database_url)
    db = Database(settings.database_url)
    factory = BackendFactory(settings, db, SystemClock())
    try:
        backend = factory(settings.backend)  # its rules and its file format: what a job would upload
        with db.session() as session:
            exported = training_file(session, pipeline_config(settings), backend,
                                     source=path if path != "-" else "the training file")
    finally:
        factory.close()
        db.dispose()
    report = exported.report
    assert report is not None, "training_file always validates"
    if path == "-":
        sys.stdout.buffer.write(exported.content)
    else:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(exported.content)
        target.with_suffix(".report.txt").write_text(report.text() + "\n", encoding="utf-8")
    print(f"{exported.examples} example(s) written to {path} from {database}; {len(exported.skipped)} skipped"
          + (f"; {exported.held_out} held out for validation (not written)" if exported.held_out else ""),
          file=sys.stderr)
    for skipped in exported.skipped:
        print(f"  reply {skipped['reply_id']}: {'; '.join(skipped['problems'])}", file=sys.stderr)
    if path == "-":
        print(report.text(), file=sys.stderr)
    else:
        verdict = "usable" if report.usable else f"NOT usable ({report.summary()})"
        print(f"validation: {verdict}; report in {target.with_suffix('.report.txt')}", file=sys.stderr)
    return 0


def cmd_migrate(env: Mapping[str, str]) -> int:
    from storage.db import Database

    settings = _settings(env, require_credentials=False)
    db = Database(settings.database_url)
    try:
        db.migrate()
        print(f"database {db!r} is at revision {db.current_revision()}")
    finally:
        db.dispose()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="finetune-bot", description=__doc__)
    sub = root.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (Socket Mode with SLACK_APP_TOKEN, else HTTP on PORT)")
    sub.add_parser("worker", help="train queued jobs of the local backend (FINETUNE_BACKEND=local), one at a time")
    sub.add_parser("status", help="print where the reply model and fine-tuning stand (read-only)")
    validate = sub.add_parser("validate", help="check a chat or DPO training file: exit 0 when usable, 1 when not")
    validate.add_argument("file", help="the JSONL file to check")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.add_argument("--model", help="count and price for this model (default: FINETUNE_BASE_MODEL)")
    export = sub.add_parser("export", help="write the approved examples as training JSONL, and its validation report (read-only)")
    export.add_argument("path", help="file to write (its report goes beside it, .report.txt), or - for standard output")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    sub.add_parser("sandbox", help="moved: see `python -m sandbox` in a checkout")
    return root


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """`env` given (tests, embedding): exactly that environment, never the working directory's .env."""
    args, extra = parser().parse_known_args(argv)
    if extra and args.command != "sandbox":  # the old `sandbox --demo/--reset` flags still get the pointer
        parser().error(f"unrecognized arguments: {' '.join(extra)}")
    environment = read_environment(env, env_file=".env" if env is None else None)
    try:
        if args.command == "status":
            return cmd_status(environment)
        if args.command == "export":
            return cmd_export(environment, args.path)
        if args.command == "validate":
            return cmd_validate(environment, args.file, as_json=args.json, model=args.model)
        if args.command == "migrate":
            return cmd_migrate(environment)
        if args.command == "worker":
            return cmd_worker(environment)
        if args.command == "sandbox":
            print(SANDBOX_MOVED, file=sys.stderr)
            return 2
        return cmd_run(environment)
    except (ConfigError, BackendNotReady) as exc:
        print(exc, file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line; the traceback only at LOG_LEVEL=DEBUG
        print(f"finetune-bot {args.command or 'run'}: {describe(exc, environment)}", file=sys.stderr)
        log.debug("traceback", exc_info=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
