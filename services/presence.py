"""Agent availability."""
from extensions import db
from models import Availability


def do_set_availability(user, availability):
    """Set the user's availability (online, away, offline)."""
    user.availability = Availability(availability)
    db.session.commit()
    return user
