"""The one error of the persistence layer that is meant for people, and a driver's error said
in one line for them."""


class DatabaseProblem(Exception):
    """The database cannot be used, for a reason said in one line (no password in it)."""


def explain_driver_error(original: BaseException) -> str:
    """A database driver's error (sqlite3's, psycopg's) in one line for people: its own first
    line, with a hint where the cause is a common one."""
    lines = str(original).strip().splitlines() or [type(original).__name__]
    message = " ".join(line.strip() for line in lines[:2] if line.strip())
    lowered = message.lower()
    if "readonly database" in lowered or "read-only" in lowered:
        message += " (is the file, or its directory, read-only?)"
    elif "not a database" in lowered or "malformed" in lowered:
        message += " (the file is damaged or is no SQLite database)"
    return f"database error: {message}"
