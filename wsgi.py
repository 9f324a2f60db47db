"""WSGI entry point: ``gunicorn wsgi:app``."""

from ruihe_saas import create_app

app = create_app()
