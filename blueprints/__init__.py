"""HTTP edges: parse, authorise, call one service, return."""
from blueprints import (
    agents, attachments, auth, calls, components, contract, conversations, dashboard, health, interfaces, webhooks,
    widget, ws,
)
from blueprints import canned_responses, notes
from blueprints import data_protection
from blueprints import reports


def register_blueprints(api):
    contract.install(api)  # before the operations register: it finishes each one (blueprints/contract.py)
    for module in (health, auth, agents, interfaces, components, conversations, attachments, calls, dashboard,
                   webhooks, widget, ws):
        api.register_blueprint(module.blp)
    for module in (canned_responses, notes):
        api.register_blueprint(module.blp)
    api.register_blueprint(data_protection.blp)
    api.register_blueprint(reports.blp)
