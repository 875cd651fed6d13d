import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidelo.settings")
application = get_wsgi_application()


def _freeze_startup_objects() -> None:
    """Load every view now and keep what the start-up built out of the garbage collector's way.

    A worker holds about 170,000 objects once Django, the views and the API's schemas are
    loaded; they live as long as the process. Python's full collection walks them all: 95 ms,
    about every 1,500 requests under load, with the GIL held, so while a thread of the worker
    holds SQLite's write lock every writer of every worker waited for it. Frozen
    (gc.freeze), they are left out of every collection: a full one walks only what requests
    have kept since (a few ms)."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # imports the views and builds the API's schemas before the first request, not during it
    gc.collect()
    gc.freeze()


_freeze_startup_objects()
