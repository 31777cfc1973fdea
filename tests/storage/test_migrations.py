from sqlalchemy import inspect

from storage.db import Database


def test_a_fresh_database_is_created_by_the_migrations(database_url):
    db = Database(database_url)
    assert db.current_revision() is None
    db.migrate()
    assert db.current_revision() == "0010"
    tables = set(inspect(db.engine).get_table_names())
    assert {"replies", "approvals", "datasets", "fine_tune_jobs", "model_activations", "notifications"} <= tables
    if db.dialect == "sqlite":
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.migrate()  # a restart applies nothing twice
    assert db.current_revision() == "0010"
    db.dispose()


def test_the_migrations_build_exactly_the_models_schema(db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import Base

    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_bot_processes_started_together_on_a_fresh_database_all_come_up(database_url):
    """Four `finetune-bot migrate` processes let go at the same moment: one migrates, the others wait for it."""
    from tests.support.processes import BotProcess

    processes = [BotProcess("migrate", env={"DATABASE_URL": database_url}) for _ in range(4)]
    for process in processes:
        process.go()
    results = [process.finish() for process in processes]
    assert [status for status, _ in results] == [0, 0, 0, 0], [output[-600:] for _, output in results]
    assert all("is at revision 0010" in output for _, output in results)
    db = Database(database_url)
    assert db.current_revision() == "0010"
    db.dispose()
