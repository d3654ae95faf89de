"""Liveness and readiness for load balancers and orchestrators."""
import marshmallow as ma
from flask.views import MethodView

from blueprints.common import Blueprint
from errors import ErrorSchema
from services.health import check_ready

blp = Blueprint("health", __name__, description="Liveness and readiness")


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(operationId="checkHealth")
    @blp.response(200, HealthSchema)
    def get(self):
        """Report that the process is alive

        Answers 200 while the process runs; it checks no dependency.
        """
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.doc(operationId="checkReadiness")
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=ErrorSchema, description="A dependency is unreachable")
    def get(self):
        """Report whether the database (and broker, when configured) answer

        503 with Retry-After while the database (or the broker) does not answer.
        """
        return {"status": "ok", "checks": check_ready()}
