"""Helpers shared by the tests: factories, the product list, reading what the bot posted, a PostgreSQL server."""
