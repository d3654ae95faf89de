"""The product's WSGI app for the benchmark: wsgi.py's app with its own broker channel prefix.

The Redis broker's channels are global across Redis databases, so a benchmark
next to a test run (or another benchmark) would hear their events; a prefix of
its own keeps them apart. Everything else is the product as shipped.
"""
import os

from app import create_app
from config import Config

app = create_app(Config, BROKER_PREFIX=os.environ.get("BENCH_BROKER_PREFIX", "livechat"))
