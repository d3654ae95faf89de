"""SQLAlchemy models, one module per aggregate; importing this registers them all."""
from models.auth import PasswordToken, PasswordTokenPurpose, RevokedToken  # noqa: F401
from models.interface import Interface, RoutingMode  # noqa: F401
from models.outbox import OutboxMail, OutboxStatus  # noqa: F401
from models.user import Availability, Role, SessionEndReason, User, interface_agents  # noqa: F401
from models.workspace import Workspace  # noqa: F401
from models.conversation import Conversation, ConversationStatus, Message, SenderType, Visitor  # noqa: F401
from models.event import Event, Stream  # noqa: F401
from models.ticket import SocketTicket  # noqa: F401
from models.flow import ButtonStyle, Component, ComponentType, FormFieldType  # noqa: F401
from models.live_request import (  # noqa: F401
    LiveRequest, Notification, NotificationStatus, NotificationType, OfflineSubmission, RequestKind, RequestStatus,
    WithdrawReason,
)
from models.audit import AuditAction, AuditEntry  # noqa: F401
from models.call import Call, CallEndReason, CallSide, CallStatus  # noqa: F401
from models.lease import Lease  # noqa: F401
from models.canned_response import CannedResponse, CannedScope  # noqa: F401
from models.note import Note  # noqa: F401
from models.rating import Rating  # noqa: F401
from models import search  # noqa: F401  (the full-text index of messages, outside the metadata)
from models import identity  # noqa: F401  (what a transaction loads stays in its identity map until it ends)
from models.attachment import Attachment, StoredFileDeletion, UploaderType  # noqa: F401
from models.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEventType  # noqa: F401
