"""WSGI entry point: `gunicorn wsgi:app`, and `flask` commands via .flaskenv."""

from webapp import create_app

app = create_app()
