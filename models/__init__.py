"""SQLAlchemy models, one module per aggregate; importing this registers them all."""
from models.auth import PasswordToken, PasswordTokenPurpose, RevokedToken  # noqa: F401
from models.interface import Interface, RoutingMode  # noqa: F401
from models.outbox import OutboxMail, OutboxStatus  # noqa: F401
from models.user import Role, User, interface_agents  # noqa: F401
from models.workspace import Workspace  # noqa: F401
