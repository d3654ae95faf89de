"""Extensions, created unbound and bound to the app in create_app."""
from flask import request
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sock import Sock
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

from errors import Api

# Stable constraint names so Alembic migrations are the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def client_address():
    """The address per-address limits key on: the TCP peer, or the client a trusted proxy names.

    X-Forwarded-For is never read here: ProxyFix (app.py) rewrites the peer address from it only when
    TRUSTED_PROXIES says how many proxies to believe; without one, anybody could pick their own bucket.
    """
    return request.remote_addr or "127.0.0.1"


limiter = Limiter(key_func=client_address)
db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate()
api = Api(limiter=limiter)
jwt = JWTManager()
mail = Mail()
sock = Sock()
cors = CORS()
