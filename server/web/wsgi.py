"""The WSGI entry point for gunicorn (``server.web.wsgi:app``): the only module that builds the app at import.

Each gunicorn worker imports this after the fork, so each loads the model once.
"""

from server import logs
from server.settings import Settings
from server.web.app import create_app

settings = Settings.from_env()
logs.configure(settings.log_level)
app = create_app(settings)
