"""HTTP edges: parse, authorise, call one service, return."""


def register_blueprints(api):
    from blueprints import agents, auth, calls, components, conversations, dashboard, health, interfaces, widget, ws

    for module in (health, auth, agents, interfaces, components, conversations, calls, dashboard, widget, ws):
        api.register_blueprint(module.blp)
