"""The last pass over the generated OpenAPI document: what a response always carries, and a shape per direction.

marshmallow's `required` is a rule for loading; what the server sends is another matter. Here a response
schema lists every property as required: the server always sends every field it declares (null where the
field allows none). A field the server may leave out says so, and why, in its metadata:
`metadata={MAY_BE_ABSENT: "why"}`; tests/test_response_contract.py holds the reasons and checks real
responses against them.

A schema used both as a request body and in a response (a POST body that the server echoes back with its
id, a component's configuration) would give generated clients one model that is wrong one way or the
other: an `id` the request must send, or a setting the response may omit. Such a schema is split: the
response keeps the name, the request gets `<name>Input`, without the response's read-only properties and
with only the fields a request must send required.

What apispec cannot take from a marshmallow schema is declared here by the schema modules: unions told
apart by a property (declare_union: a visitor's Action, a system message's SystemEvent), components only a
REST_SPEC refers to (declare_components), keywords for a whole schema (declare_extra: a PATCH body's
minProperties). ContractSpec adds them and runs `finish` whenever the document is rendered.
"""
import copy

import apispec
from apispec.ext.marshmallow import MarshmallowPlugin

MAY_BE_ABSENT = "x-may-be-absent"
# The same, for response schemas declared outside schemas/: (component, property) -> why it may be absent.
ABSENT_ELSEWHERE = {
    ("Health", "checks"): "only /readyz checks the dependencies; /healthz says the process is alive",
}
# A field's metadata key: JSON Schema the REST document adds to the field's property (apispec takes no
# propertyNames from metadata, and the socket document, built from the same schemas, keeps its own shapes).
# With "replace": True the property is that schema instead (readOnly, writeOnly and MAY_BE_ABSENT kept).
REST_SPEC = "rest_spec"
INPUT_SUFFIX = "Input"
_REF = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


def component_refs(node):
    """Every component name node refers to, at any depth (discriminator mappings too)."""
    found = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "$ref" and isinstance(value, str) and value.startswith(_REF):
                    found.add(value[len(_REF):])
                elif key == "mapping" and isinstance(value, dict):
                    found.update(v[len(_REF):] for v in value.values() if isinstance(v, str) and v.startswith(_REF))
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _closure(names, schemas, side):
    """name -> side(schema) for every component reachable from names, through what side keeps."""
    seen, todo = {}, list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen[name] = side(schemas[name], name)
        todo.extend(component_refs(seen[name]))
    return seen


def _rename_refs(node, renames):
    """node with every $ref (and discriminator mapping) to a renamed component pointing at its new name."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value[len(_REF):] in renames:
                out[key] = _REF + renames[value[len(_REF):]]
            elif key == "mapping" and isinstance(value, dict):
                out[key] = {k: (_REF + renames[v[len(_REF):]] if v[len(_REF):] in renames else v)
                            for k, v in value.items()}
            else:
                out[key] = _rename_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def _operations(document):
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method in _METHODS:
                yield operation


def _response_side(schema, name=None):
    """Every property required but those that say they may be absent; no write-only properties."""
    schema = copy.deepcopy(schema)
    for (component, prop), why in ABSENT_ELSEWHERE.items():
        if component == name and prop in schema.get("properties", {}):
            schema["properties"][prop][MAY_BE_ABSENT] = why
    properties = schema.get("properties")
    if properties is None:
        return schema
    for name in [n for n, p in properties.items() if p.get("writeOnly")]:
        del properties[name]
    required = [name for name, prop in properties.items() if MAY_BE_ABSENT not in prop]
    for prop in properties.values():
        prop.pop(MAY_BE_ABSENT, None)
    if required:
        schema["required"] = sorted(required)
    else:
        schema.pop("required", None)
    return schema


def _request_side(schema, name=None):
    """No read-only properties; required as marshmallow loads."""
    schema = copy.deepcopy(schema)
    properties = schema.get("properties")
    if properties is None:
        return schema
    for name in [n for n, p in properties.items() if p.get("readOnly")]:
        del properties[name]
    for prop in properties.values():
        prop.pop(MAY_BE_ABSENT, None)
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name in properties]
        if not schema["required"]:
            del schema["required"]
    return schema


def rest_spec(self, field, ret, **kwargs):
    """apispec attribute function: a field's REST_SPEC metadata, in the REST document only."""
    extra = field.metadata.get(REST_SPEC) or {}
    if isinstance(extra, str):  # the name of a constant here (errors.py cannot import this module)
        extra = globals()[extra]
    extra = dict(extra)
    if extra.pop("replace", False):
        kept = {key: ret[key] for key in ("readOnly", "writeOnly", MAY_BE_ABSENT) if key in ret}
        ret.clear()
        ret.update(kept)
    return extra


_unions = {}
_components = []
_STRINGS = {"type": "array", "items": {"type": "string"}}
# Components given as JSON Schema (no marshmallow schema says them): name -> schema.
RAW_COMPONENTS = {
    "FieldErrors": {
        "type": "object",
        "description": "Field name (a list's index for an item) -> its messages, or the errors of the nested "
                       "object or list item",
        "additionalProperties": {"anyOf": [_STRINGS, {"$ref": _REF + "FieldErrors"}]},
    },
}
_ERROR_MAP_DESCRIPTION = "Per-field errors, keyed by location (json, query...) then field"
RAW_COMPONENTS["FieldErrorMap"] = {
    "type": "object",
    "description": _ERROR_MAP_DESCRIPTION,
    "additionalProperties": {"anyOf": [
        {"$ref": _REF + "FieldErrors"}, _STRINGS,
        {"type": "object", "additionalProperties": {"type": "string"},
         "description": "/readyz: each dependency's state"}]},
}
# Error.errors (errors.py sits below schemas, so its field names this by the REST_SPEC key): a named component,
# which Error and every error component of blueprints/contract.py share (one model in a generated client).
ERROR_ERRORS = {"replace": True, "$ref": _REF + "FieldErrorMap", "description": _ERROR_MAP_DESCRIPTION}


def declare_union(name, discriminator, variants, description):
    """The component `name` is a oneOf of variants {value: schema class}, told apart by the property
    discriminator. A schema whose name it is (ActionSchema for Action) keeps loading; the spec shows the union."""
    _unions[name] = (discriminator, variants, description)


_extras = {}


def declare_extra(schema_cls, **keywords):
    """JSON Schema keywords for the whole component of schema_cls (apispec takes none from a schema class)."""
    _extras[_component_name(schema_cls)] = keywords


_webhooks = {}


def declare_webhooks(webhooks):
    """Top-level `webhooks` (OpenAPI 3.1): name -> Path Item of what the server POSTs to a subscriber."""
    _webhooks.update(webhooks)


def declare_components(*schema_classes):
    """Component schemas a field's REST_SPEC refers to by name (no Nested reaches them)."""
    _components.extend(schema_classes)


def _component_name(schema_cls):
    return schema_cls.__name__.removesuffix("Schema")


def _register_declared(spec):
    schemas = spec.components.schemas
    for schema_cls in [*_components, *(v for _, variants, _ in _unions.values() for v in variants.values())]:
        if _component_name(schema_cls) not in schemas:
            spec.components.schema(_component_name(schema_cls), schema=schema_cls)
    for name, raw in RAW_COMPONENTS.items():
        if name not in schemas:
            spec.components.schema(name, raw)
    for name, keywords in _extras.items():
        if name in schemas:
            schemas[name].update(keywords)
    for name, (discriminator, variants, description) in _unions.items():
        mapping = {value: _REF + _component_name(variant) for value, variant in variants.items()}
        union = {"description": description,
                 "oneOf": [{"$ref": target} for target in dict.fromkeys(mapping.values())],
                 "discriminator": {"propertyName": discriminator, "mapping": mapping}}
        if name in schemas:
            schemas[name] = union
        else:
            spec.components.schema(name, union)


def ref(schema_cls):
    return {"$ref": _REF + _component_name(schema_cls)}


def finish(document):
    """The document with response schemas that require what the server always sends, split per direction."""
    document = copy.deepcopy(document)
    schemas = document.get("components", {}).get("schemas", {})
    to_responses, to_requests = component_refs(document.get("components", {}).get("responses", {})), set()
    for operation in _operations(document):
        to_requests |= component_refs(operation.get("requestBody", {}))
        to_requests |= component_refs(operation.get("parameters", []))
        to_responses |= component_refs(operation.get("responses", {}))
    # What the server POSTs to webhook endpoints is sent like a response: everything it declares is there.
    to_responses |= component_refs(document.get("webhooks", {}))
    responses = _closure(to_responses, schemas, _response_side)
    requests = _closure(to_requests, schemas, _request_side)
    both = responses.keys() & requests.keys()
    # A schema is split when its two sides differ, or when it refers to one that is split.
    split = {name for name in both if responses[name] != requests[name]}
    while True:
        more = {name for name in both - split if component_refs(requests[name]) & split}
        if not more:
            break
        split |= more
    renames = {name: name + INPUT_SUFFIX for name in split}
    clash = set(renames.values()) & set(schemas)
    if clash:
        raise ValueError(f"cannot split, the names are taken: {sorted(clash)}")

    finished = {}
    for name, schema in schemas.items():
        if name in responses:
            finished[name] = responses[name]
        elif name in requests:
            finished[name] = _rename_refs(requests[name], renames)
        else:
            finished[name] = copy.deepcopy(schema)
    for name in split:
        finished[renames[name]] = _rename_refs(requests[name], renames)
    if schemas:
        document["components"]["schemas"] = dict(sorted(finished.items()))
    for operation in _operations(document):
        for key in ("requestBody", "parameters"):
            if key in operation:
                operation[key] = _rename_refs(operation[key], renames)
    return document


class ContractSpec(apispec.APISpec):
    """An APISpec whose document has had the last pass (finish)."""

    def to_dict(self):
        _register_declared(self)
        document = super().to_dict()
        if _webhooks:
            document["webhooks"] = copy.deepcopy(_webhooks)
        return finish(document)


class ContractPlugin(apispec.BasePlugin):
    """Makes the spec it is given a ContractSpec, whose marshmallow converter reads REST_SPEC.

    Listed after the MarshmallowPlugin (flask-smorest's extra_plugins are), so its converter exists here.
    """

    def init_spec(self, spec):
        super().init_spec(spec)
        if type(spec) is apispec.APISpec:  # flask-smorest builds a plain APISpec
            spec.__class__ = ContractSpec
        for plugin in spec.plugins:
            if isinstance(plugin, MarshmallowPlugin):
                plugin.converter.add_attribute_function(rest_spec)
