"""Persistence for tracker: SQLAlchemy models, query functions, sessions and migrations.

This package imports nothing of the rest of the project; `tracker` and `workers` import it.
"""
