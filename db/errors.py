"""The one error of the persistence layer that is meant for people."""


class DatabaseProblem(Exception):
    """The database cannot be used, for a reason said in one line (no password in it)."""
