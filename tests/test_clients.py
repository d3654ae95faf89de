"""Clients generated from openapi/openapi.json are strictly typed and work: the spec is a contract a frontend
team can generate from.

TypeScript: openapi-typescript turns the spec into types (build/clients/ts/, git-ignored) and
clients/ts/usage.ts, a program that uses every resource through them and openapi-fetch, passes
`tsc --strict`; tsc then compiles it (ES2022 modules into build/clients/ts-out/) and node runs its story
against a live server. Python: openapi-python-client generates a client into a temporary directory, `mypy --strict`
accepts it and clients/python/usage.py, and that program runs its story against a live server.

Both generated clients are also searched for the places where the spec leaves a value untyped (`unknown` or
`any` in TypeScript, `Any` in Python): those places must be exactly the allow-lists below, each with why.

The node tools come from package-lock.json (`make test` runs `npm ci` first); openapi-python-client and mypy
from requirements-dev.lock. Without them these tests skip on a developer's machine and fail under CI.
"""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import PASSWORD, make_workspace
from tests.passes import same_on_every_database

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi/openapi.json"
NODE_BIN = ROOT / "node_modules/.bin"
TS_SCHEMA = ROOT / "build/clients/ts/schema.d.ts"
TS_CONFIG = ROOT / "clients/ts/tsconfig.json"
TS_OUT = ROOT / "build/clients/ts-out"
PY_USAGE = ROOT / "clients/python/usage.py"
PY_PACKAGE = "livechat_client"

# Where the generated TypeScript has `unknown` or `any`: components.schemas.<Schema>.<property>..., each with why
# the API leaves it open. (openapi-typescript's response `headers` index signatures, which say nothing about
# the API, are left out of the count.)
TS_ALLOWED_UNTYPED = {
    "components.schemas.AuditEntry.details.[key: string]": "free-form context of an audit entry",
}

# Where the generated Python has `Any`: a model's field (<Model>.<field>; `additional_properties` holds the
# keys of a free-form object) or what an operation's `sync` returns (<tag>.<module>.sync; `Any` stands for a
# response without a body).
PY_ALLOWED_UNTYPED = {
    "AuditEntryDetails.additional_properties": "free-form context of an audit entry",
    # Responses without a body (204 No Content, 304 Not Modified), which openapi-python-client types as Any.
    "agents.delete_agent.sync": "204 without a body",
    "auth.log_out.sync": "204 without a body",
    "auth.set_password.sync": "204 without a body",
    "components.delete_component.sync": "204 without a body",
    "components.get_component.sync": "304 without a body",
    "interfaces.delete_interface.sync": "204 without a body",
    "canned_responses.delete_canned_response.sync": "204 without a body",
    "webhooks.delete_webhook.sync": "204 without a body",
}


def _missing(what):
    """A tool the suite installs is not there: fail under CI (it must be installed), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; `make test` installs it", pytrace=False)
    pytest.skip(f"{what} is missing; `make test` installs it")


def _run(cmd, **kwargs):
    return subprocess.run([str(part) for part in cmd], capture_output=True, text=True, timeout=600, **kwargs)


def _output(result):
    return (result.stdout + result.stderr).strip()


# TypeScript


@pytest.fixture(scope="module")
def ts_schema():
    tools = [NODE_BIN / "openapi-typescript", NODE_BIN / "tsc"]
    if shutil.which("node") is None or not all(tool.exists() for tool in tools):
        _missing("node_modules (npm ci: openapi-typescript, typescript, openapi-fetch)")
    TS_SCHEMA.parent.mkdir(parents=True, exist_ok=True)
    # Read-only and write-only markers: request bodies leave out what only responses carry, and the reverse.
    # Defaults do not make a property required: a request may omit it.
    result = _run([NODE_BIN / "openapi-typescript", SPEC, "--read-write-markers", "--default-non-nullable", "false",
                   "--output", TS_SCHEMA], cwd=ROOT)
    assert result.returncode == 0, f"openapi-typescript failed:\n{_output(result)}"
    return TS_SCHEMA


@same_on_every_database
def test_typescript_usage_type_checks_strictly(ts_schema):
    result = _run([NODE_BIN / "tsc", "--strict", "--noEmit", "-p", TS_CONFIG], cwd=ROOT)
    output = _output(result)
    errors = len(re.findall(r"error TS\d+", output))
    if result.returncode != 0 or errors:
        pytest.fail(f"tsc --strict found {errors} errors in clients/ts/usage.ts against the generated types:\n{output}",
                    pytrace=False)


def test_typescript_usage_story_runs_against_a_live_server(ts_schema, app, server):
    # The same program the test above type-checks, emitted as it is: ES2022 modules, which node runs as
    # such under a package.json of type "module"; openapi-fetch resolves from node_modules above.
    shutil.rmtree(TS_OUT, ignore_errors=True)
    result = _run([NODE_BIN / "tsc", "--strict", "-p", TS_CONFIG, "--noEmit", "false", "--outDir", TS_OUT,
                   "--rootDir", TS_CONFIG.parent], cwd=ROOT)
    assert result.returncode == 0, f"tsc could not compile clients/ts/usage.ts:\n{_output(result)}"
    (TS_OUT / "package.json").write_text('{"type": "module"}\n')
    _, admin = make_workspace()
    result = _run(["node", TS_OUT / "usage.js", server.url, admin.email, PASSWORD], cwd=ROOT)
    if result.returncode != 0:
        pytest.fail(f"clients/ts/usage.ts exited {result.returncode} against {server.url}:\n{_output(result)}",
                    pytrace=False)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["not_found"] == "not_found" and summary["conversation_id"] > 0, result.stdout


def ts_untyped_spots(text):
    """Each `unknown`/`any` of the generated declarations, named by its path of keys.

    openapi-typescript writes one member per line and nests objects with braces, so following the braces
    gives the path; the helper types before `export interface paths` (the read/write markers) are skipped.
    """
    key_re = re.compile(r'^\s*(?:readonly\s+)?("[^"]*"|\[[^\]]*\]|[\w$]+)\??:')
    top_re = re.compile(r"^export (?:interface|type) ([\w$]+)")
    stack, spots, started = [], [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("*", "/*", "//")):
            continue
        top = top_re.match(line)
        if top:
            started = started or top.group(1) == "paths"
        if not started:
            continue
        match = key_re.match(line)
        key = top.group(1) if top else match.group(1).strip('"') if match else None
        # A conditional rule of the spec (if/then: a select field needs options) has no TypeScript form and
        # comes out as `T & unknown`, which is T: an `unknown` that is only a member of an intersection
        # loosens nothing, so it is not counted.
        checked = re.sub(r"\s*&\s*\(?unknown\)?(?=[\s&;)]|$)|\bunknown\s*&\s*", "", stripped)
        if re.search(r"\b(unknown|any)\b", checked):
            spots.append(".".join(stack + ([key] if key else [])))
        depth = stripped.count("{") - stripped.count("}")
        if depth > 0:
            stack.extend([key or "?"] + ["?"] * (depth - 1))
        elif depth < 0:
            del stack[len(stack) + depth:]
    return sorted(spot for spot in spots if ".headers." not in spot + ".")


@same_on_every_database
def test_typescript_untyped_spots_are_the_allowed_ones(ts_schema):
    spots = ts_untyped_spots(ts_schema.read_text())
    unexpected = [spot for spot in spots if spot not in TS_ALLOWED_UNTYPED]
    gone = sorted(set(TS_ALLOWED_UNTYPED) - set(spots))
    if unexpected or gone:
        pytest.fail(f"{len(spots)} unknown/any in the generated TypeScript, {len(TS_ALLOWED_UNTYPED)} allowed.\n"
                    f"Not allowed (type them in the spec): {unexpected}\n"
                    f"Allowed but gone (drop them from TS_ALLOWED_UNTYPED): {gone}", pytrace=False)


# Python


@pytest.fixture(scope="module")
def python_client(tmp_path_factory):
    try:
        import mypy  # noqa: F401
        import openapi_python_client  # noqa: F401
    except ImportError:
        _missing("openapi-python-client or mypy (requirements-dev.lock)")
    out = tmp_path_factory.mktemp("python-client")
    config = out / "config.yml"
    config.write_text(f"package_name_override: {PY_PACKAGE}\npost_hooks: []\n")
    result = _run([sys.executable, "-m", "openapi_python_client", "generate", "--path", SPEC, "--meta", "none",
                   "--config", config, "--output-path", out / PY_PACKAGE], cwd=out)
    output = _output(result)
    assert result.returncode == 0 and (out / PY_PACKAGE / "__init__.py").exists(), (
        f"openapi-python-client failed:\n{output}")
    return out, output


@same_on_every_database
def test_python_client_generates_every_schema(python_client):
    _, output = python_client
    dropped = re.findall(r"Unable to process schema (\S+):\s*\n\s*\n(.+)", output)
    removed = re.findall(r"^(/components/schemas/\S+)$", output, re.MULTILINE)
    if "Warning" in output:
        pytest.fail(f"openapi-python-client could not use {len(dropped)} schemas {dropped}, so it left out "
                    f"{sorted(set(removed))}:\n{output}", pytrace=False)


@same_on_every_database
def test_python_client_modules_all_import(python_client):
    out, _ = python_client
    script = (
        "import importlib, json, pkgutil, sys\n"
        f"import {PY_PACKAGE} as package\n"
        "failed = {}\n"
        "for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "    try:\n"
        "        importlib.import_module(module.name)\n"
        "    except Exception as error:\n"
        "        failed[module.name] = f'{type(error).__name__}: {error}'\n"
        "print(json.dumps(failed))\n")
    result = _run([sys.executable, "-c", script], cwd=out, env={**os.environ, "PYTHONPATH": str(out)})
    assert result.returncode == 0, _output(result)
    failed = json.loads(result.stdout.strip().splitlines()[-1])
    if failed:
        pytest.fail(f"{len(failed)} generated modules fail to import:\n" + "\n".join(
            f"{name}: {why}" for name, why in sorted(failed.items())), pytrace=False)


@same_on_every_database
def test_python_client_and_usage_type_check_strictly(python_client):
    out, _ = python_client
    config = out / "mypy.ini"
    config.write_text("[mypy]\n")  # the defaults and --strict, whatever config the repository may grow
    result = _run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", out / ".mypy_cache",
                   "--config-file", config, out / PY_PACKAGE, PY_USAGE],
                  cwd=out, env={**os.environ, "MYPYPATH": str(out)})
    output = _output(result)
    errors = len(re.findall(r": error:", output))
    if result.returncode != 0 or errors:
        pytest.fail(f"mypy --strict found {errors} errors in the generated client and clients/python/usage.py:\n{output}",
                    pytrace=False)


def py_untyped_spots(package_dir):
    """Model fields annotated with `Any`, and operations whose `sync` returns `Any`."""
    spots = []
    for path in sorted((package_dir / "models").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and _mentions_any(item.annotation):
                        spots.append(f"{node.name}.{item.target.id}")
    for path in sorted((package_dir / "api").glob("*/*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name == "sync" and _mentions_any(node.returns):
                spots.append(f"{path.parent.name}.{path.stem}.sync")
    return spots


def _mentions_any(annotation):
    return annotation is not None and any(isinstance(n, ast.Name) and n.id == "Any" for n in ast.walk(annotation))


@same_on_every_database
def test_python_untyped_spots_are_the_allowed_ones(python_client):
    out, _ = python_client
    spots = py_untyped_spots(out / PY_PACKAGE)
    unexpected = [spot for spot in spots if spot not in PY_ALLOWED_UNTYPED]
    gone = sorted(set(PY_ALLOWED_UNTYPED) - set(spots))
    if unexpected or gone:
        pytest.fail(f"{len(spots)} Any in the generated Python, {len(PY_ALLOWED_UNTYPED)} allowed.\n"
                    f"Not allowed (type them in the spec): {unexpected}\n"
                    f"Allowed but gone (drop them from PY_ALLOWED_UNTYPED): {gone}", pytrace=False)


def test_python_usage_story_runs_against_a_live_server(python_client, app, server):
    out, _ = python_client
    _, admin = make_workspace()
    result = _run([sys.executable, PY_USAGE, server.url, admin.email, PASSWORD], cwd=out,
                  env={**os.environ, "PYTHONPATH": str(out)})
    if result.returncode != 0:
        pytest.fail(f"clients/python/usage.py failed against {server.url}:\n{_output(result)}", pytrace=False)
    assert "conversation_id" in result.stdout, result.stdout
