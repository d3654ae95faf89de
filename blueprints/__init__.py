"""HTTP edges: parse, authorise, call one service, return."""


def register_blueprints(api):
    from blueprints import agents, auth, components, conversations, dashboard, health, interfaces, widget, ws

    for module in (health, auth, agents, interfaces, components, conversations, dashboard, widget, ws):
        api.register_blueprint(module.blp)
