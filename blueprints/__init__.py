"""HTTP edges: parse, authorise, call one service, return."""
from blueprints import (
    agents, auth, calls, components, contract, conversations, dashboard, health, interfaces, webhooks, widget, ws,
)


def register_blueprints(api):
    contract.install(api)  # before the operations register: it finishes each one (blueprints/contract.py)
    for module in (health, auth, agents, interfaces, components, conversations, calls, dashboard, webhooks, widget,
                   ws):
        api.register_blueprint(module.blp)
