"""The WSGI entry point for gunicorn (``server.wsgi:app``): the only module that builds the app at import.

Each gunicorn worker imports this after the fork, so each loads the model once.
"""

from server import logs
from server.app import create_app
from server.settings import Settings

settings = Settings.from_env()
logs.configure(settings.log_level)
app = create_app(settings)
