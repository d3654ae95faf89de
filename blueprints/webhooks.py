"""Webhook endpoints: admins register them, read their delivery log and redeliver."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.common import PageArgsSchema, page_of
from schemas.webhooks import (
    DeliveryQueryArgsSchema, WebhookDeliverySchema, WebhookEndpointSchema, WebhookEndpointUpdateSchema,
    WebhookEndpointWithSecretSchema,
)
from services.webhooks import (
    URL_ERRORS, WebhookDisabled, access_endpoint, do_create_endpoint, do_delete_endpoint, do_redeliver,
    do_rotate_secret, do_update_endpoint, list_deliveries, list_endpoints,
)

blp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks",
                description="Webhooks: signed HTTP callbacks (Standard Webhooks) for chat events")

_URL_CODES = {422: ["validation_error", *URL_ERRORS]}


@blp.route("")
class Webhooks(MethodView):
    @blp.doc(operationId="listWebhooks")
    @login_required(blp, role="admin")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, page_of(WebhookEndpointSchema))
    @errors(blp, 422)
    def get(self, args):
        """List the workspace's webhook endpoints

        Secrets are not shown: only creation and rotation answer with one.
        """
        return list_endpoints(current_user, **args)

    @blp.doc(operationId="createWebhook")
    @login_required(blp, role="admin")
    @blp.arguments(WebhookEndpointSchema)
    @blp.response(201, WebhookEndpointWithSecretSchema)
    @errors(blp, 422, codes=_URL_CODES)
    def post(self, data):
        """Register a webhook endpoint

        The server generates its signing secret and shows it in this answer only. The URL's host is resolved
        and refused when it is a private, loopback, link-local, multicast, reserved or cloud metadata address.
        """
        return do_create_endpoint(current_user, data)


@blp.route("/<id:webhook_id>")
class WebhookById(MethodView):
    @blp.doc(operationId="getWebhook")
    @login_required(blp, role="admin")
    @blp.response(200, WebhookEndpointSchema)
    @errors(blp, 404)
    def get(self, webhook_id):
        """Show a webhook endpoint

        Its secret is not shown.
        """
        return access_endpoint(current_user, webhook_id)

    @blp.doc(operationId="updateWebhook")
    @login_required(blp, role="admin")
    @blp.arguments(WebhookEndpointUpdateSchema)
    @blp.response(200, WebhookEndpointSchema)
    @errors(blp, 404, 422, codes=_URL_CODES)
    def patch(self, data, webhook_id):
        """Edit a webhook endpoint

        Send only the fields to change. Enabling a disabled endpoint resets its failure count; its
        undelivered events are sent.
        """
        return do_update_endpoint(current_user, access_endpoint(current_user, webhook_id), data)

    @blp.doc(operationId="deleteWebhook")
    @login_required(blp, role="admin")
    @blp.response(204)
    @errors(blp, 404)
    def delete(self, webhook_id):
        """Delete a webhook endpoint

        Its delivery log and undelivered events go with it.
        """
        do_delete_endpoint(current_user, access_endpoint(current_user, webhook_id))


@blp.route("/<id:webhook_id>/rotate-secret")
class WebhookRotateSecret(MethodView):
    @blp.doc(operationId="rotateWebhookSecret")
    @login_required(blp, role="admin")
    @blp.response(200, WebhookEndpointWithSecretSchema)
    @errors(blp, 404)
    def post(self, webhook_id):
        """Replace the signing secret; the old one keeps signing for an overlap

        Until previous_secret_until each delivery carries two signatures, one per secret, so receivers can
        switch to the new secret without missing a delivery.
        """
        return do_rotate_secret(current_user, access_endpoint(current_user, webhook_id))


@blp.route("/<id:webhook_id>/deliveries")
class WebhookDeliveries(MethodView):
    @blp.doc(operationId="listWebhookDeliveries")
    @login_required(blp, role="admin")
    @blp.arguments(DeliveryQueryArgsSchema, location="query")
    @blp.response(200, page_of(WebhookDeliverySchema))
    @errors(blp, 404, 422)
    def get(self, args, webhook_id):
        """List an endpoint's deliveries, newest first

        Each with its status, attempts, last status code, latency and the start of the last answer.
        """
        return list_deliveries(access_endpoint(current_user, webhook_id), **args)


@blp.route("/<id:webhook_id>/deliveries/<id:delivery_id>/redeliver")
class WebhookRedeliver(MethodView):
    @blp.doc(operationId="redeliverWebhook")
    @login_required(blp, role="admin")
    @blp.response(202, WebhookDeliverySchema)
    @errors(blp, 404, 409, codes={409: [WebhookDisabled]})
    def post(self, webhook_id, delivery_id):
        """Send a delivery again

        With the same webhook-id and body, at the sender's next round; its attempts count afresh.
        """
        return do_redeliver(current_user, access_endpoint(current_user, webhook_id), delivery_id)
