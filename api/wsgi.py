"""The WSGI application for a production server: ``gunicorn -c python:api.gunicorn_config api.wsgi:app``
(``make run``). Everything comes from the environment; see docs/deploy.md."""

from api.app import create_app

app = create_app()
