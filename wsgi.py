"""`app` for gunicorn: settings from the environment -> container -> Flask app."""

from entrypoints.bootstrap import bootstrap
from entrypoints.config import load_settings
from entrypoints.http.app import create_app
from entrypoints.logs import configure_logging

settings = load_settings()
configure_logging(settings.log_level)
app = create_app(bootstrap(settings))
