"""The WSGI entry point for gunicorn: `gunicorn -c gunicorn.conf.py wsgi:app`."""
import logging

from app import create_app

# Warnings of every logger reach stderr, which gunicorn keeps. Without a handler of our own, Python's
# last resort shows ours but not those of a library that installs a NullHandler (Flask-Limiter's
# "falling back to in-memory storage" when Redis is away).
if not logging.getLogger().handlers:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = create_app()
