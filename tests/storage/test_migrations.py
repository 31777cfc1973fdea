from sqlalchemy import inspect

from storage.db import Database


def test_a_fresh_database_is_created_by_the_migrations(database_url):
    db = Database(database_url)
    assert db.current_revision() is None
    db.migrate()
    assert db.current_revision() == "0001"
    tables = set(inspect(db.engine).get_table_names())
    assert {"replies", "approvals", "datasets", "fine_tune_jobs", "model_activations", "notifications"} <= tables
    db.migrate()  # a restart applies nothing twice
    assert db.current_revision() == "0001"
    db.dispose()
