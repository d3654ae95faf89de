"""HTTP edges: parse, authorise, call one service, return."""


def register_blueprints(api):
    from blueprints import agents, auth, health, interfaces

    for module in (health, auth, agents, interfaces):
        api.register_blueprint(module.blp)
