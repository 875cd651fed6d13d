import gc
import os
import threading

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidelo.settings")


class FreezeAfterFirstRequest:
    """The Django application, which keeps what its first request has loaded out of the garbage
    collector's way.

    A worker holds about 170,000 objects once Django, the views and the API's schemas are
    loaded (the first request loads the views); they live as long as the process. Python's full
    collection walks them all: 95 ms, about every 1,500 requests under load, with the GIL held,
    so while a thread of the worker held SQLite's write lock every writer of every worker
    waited for it. Frozen (gc.freeze) after the first request, they are left out of every
    collection: a full one walks only what later requests have kept.

    Not at import: loading the views while granian imports the application left one worker of
    two alive after `fidelo serve` stopped, in half of the starts stopped at once (a worker
    blocked on a lock); loaded by a request, as before, none."""

    def __init__(self, application) -> None:
        self.application = application
        self.pending = True
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        response = self.application(environ, start_response)
        if self.pending:
            with self.lock:
                if self.pending:  # one thread freezes, once
                    gc.collect()
                    gc.freeze()
                    self.pending = False
        return response


application = FreezeAfterFirstRequest(get_wsgi_application())
