"""The Celery runtime of tracker (the background service): the app, thin tasks and the beat
tick. Tasks take ids and call the same use cases as the embedded ``tracker run``; nothing of
the domain lives here. ``celery -A workers worker`` finds ``celery`` below."""

from workers.app import celery

__all__ = ["celery"]
