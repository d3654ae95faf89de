"""The browser apps (static/lib, static/widget, static/console) are type-checked against types generated from the
specs, and those types cannot drift from the specs.

- `tsc -p static/tsconfig.json` (checkJs, strict) accepts every module: requests, responses and socket frames
  are the generated types, never hand-written shapes.
- static/types/ and static/vendor/ are committed (the server serves them; `make run` has no node): `make types`
  run into a temporary directory must produce exactly the committed files, so a spec change that is not
  followed by `make types` fails here, as does a vendored openapi-fetch of another version than package-lock's.
- Both generators render a spec's nullable fields as `| null` and no others: a probe program assigns null to
  every property of every schema, expecting an error exactly where the spec does not allow null.

Like tests/test_clients.py, without node_modules (or make) these tests skip, and fail under CI.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.passes import same_on_every_database

pytestmark = same_on_every_database  # node and the specs only: no database

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "node_modules/.bin"
TSCONFIG = ROOT / "static/tsconfig.json"
TYPES = ROOT / "static/types"
VENDOR = ROOT / "static/vendor"


def _missing(what):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; `make test` installs it", pytrace=False)
    pytest.skip(f"{what} is missing; `make test` installs it")


def _run(cmd, **kwargs):
    return subprocess.run([str(part) for part in cmd], capture_output=True, text=True, timeout=300, cwd=ROOT, **kwargs)


def _output(result):
    return (result.stdout + result.stderr).strip()


@pytest.fixture(scope="module")
def node_tools():
    tools = [NODE_BIN / "tsc", NODE_BIN / "openapi-typescript", ROOT / "node_modules/openapi-fetch/package.json"]
    if shutil.which("node") is None or not all(tool.exists() for tool in tools):
        _missing("node_modules (npm ci: typescript, openapi-typescript, openapi-fetch)")


def _tsc(project, source=None):
    result = _run([NODE_BIN / "tsc", "-p", project])
    output = _output(result)
    errors = len(re.findall(r"error TS\d+", output))
    if result.returncode != 0 or errors:
        if source:  # quote the probe's lines, which live in a temporary file
            lines = source.splitlines()
            output = re.sub(r"\((\d+),\d+\): ", lambda m: f" line {m.group(1)} `{lines[int(m.group(1)) - 1]}`: ", output)
        pytest.fail(f"tsc found {errors} errors in the project {project}:\n{output}", pytrace=False)


def test_web_apps_type_check_strictly(node_tools):
    _tsc(TSCONFIG)


@pytest.fixture(scope="module")
def generated(node_tools, tmp_path_factory):
    """What `make types` produces now, into a temporary directory."""
    if shutil.which("make") is None:
        _missing("make")
    out = tmp_path_factory.mktemp("types")
    # NODE_STAMP= : node_modules is there already; the target must not run npm ci from a test.
    result = _run(["make", "--no-print-directory", "types", "NODE_STAMP=", f"TYPES_DIR={out / 'types'}",
                   f"VENDOR_DIR={out / 'vendor'}"])
    assert result.returncode == 0, f"make types failed:\n{_output(result)}"
    return out


def _differences(generated, committed):
    """Files generated but not committed, committed but not generated, or different (paths relative to the trees)."""
    generated_files = {path.relative_to(generated) for path in Path(generated).rglob("*") if path.is_file()}
    committed_files = {path.relative_to(committed) for path in Path(committed).rglob("*") if path.is_file()}
    out = [f"not committed: {name}" for name in sorted(generated_files - committed_files)]
    out += [f"not generated any more: {name}" for name in sorted(committed_files - generated_files)]
    out += [f"differs: {name}" for name in sorted(generated_files & committed_files)
            if (Path(generated) / name).read_bytes() != (Path(committed) / name).read_bytes()]
    return out


def test_committed_types_are_what_the_specs_generate(generated):
    differences = _differences(generated / "types", TYPES)
    assert not differences, ("static/types/ is not what openapi/*.json generate now; run `make types` and commit:\n"
                             + "\n".join(differences))


def test_vendored_openapi_fetch_is_node_modules_version(generated):
    installed = json.loads((ROOT / "node_modules/openapi-fetch/package.json").read_text())["version"]
    vendored = json.loads((VENDOR / "openapi-fetch/package.json").read_text())["version"]
    assert vendored == installed, f"static/vendor has openapi-fetch {vendored}, node_modules {installed}: make types"
    differences = _differences(generated / "vendor", VENDOR)
    assert not differences, "static/vendor/ is not node_modules' openapi-fetch; run `make types`:\n" + "\n".join(differences)
    assert (VENDOR / "openapi-fetch/LICENSE").read_text().startswith("MIT License")


# Nullability: the probe


def _nullable(schema, schemas, seen=()):
    """True, False, or None when the spec leaves the value untyped (anything goes, null included)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return None if name in seen else _nullable(schemas[name], schemas, (*seen, name))
    if "const" in schema:
        return schema["const"] is None
    if "enum" in schema:
        return None in schema["enum"]
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        results = [_nullable(branch, schemas, seen) for branch in branches]
        return None if None in results else any(results)
    kind = schema.get("type")
    if kind is None:
        return None if not schema.get("properties") else False
    return "null" in kind if isinstance(kind, list) else kind == "null" or schema.get("nullable") is True


def _probe_lines(schemas, type_of):
    lines = []
    for name, schema in sorted(schemas.items()):
        for prop, sub in sorted(schema.get("properties", {}).items()):
            nullable = _nullable(sub, schemas)
            if nullable is None:
                continue
            target = f'{type_of(name)}["{prop}"]'
            if not nullable:
                lines.append("// @ts-expect-error: not nullable in the spec")
            lines.append(f"probe<{target}>(null);")
    return lines


def test_nullable_fields_and_only_they_accept_null(node_tools, tmp_path):
    rest = json.loads((ROOT / "openapi/openapi.json").read_text())["components"]["schemas"]
    socket = json.loads((ROOT / "openapi/asyncapi.json").read_text())
    frames = socket["components"]["schemas"]
    messages = socket["components"]["messages"]
    # tools/frame_types.mjs: a schema named like a message with another payload is emitted as <name>Data.
    taken = {key[0].upper() + key[1:]: message["payload"].get("$ref", "").rsplit("/", 1)[-1]
             for key, message in messages.items()}

    def frame_type(name):
        return f"F.{name}Data" if name in taken and taken[name] != name else f"F.{name}"

    lines = [
        f'import type {{ components }} from "{TYPES / "openapi"}";',
        f'import type * as F from "{TYPES / "frames"}";',
        "declare function probe<T>(value: T): void;",
        *_probe_lines(rest, lambda name: f'components["schemas"]["{name}"]'),
        *_probe_lines(frames, frame_type),
    ]
    assert sum(line.startswith("probe") for line in lines) > 100  # the specs have that many typed properties
    source = "\n".join(lines) + "\n"
    (tmp_path / "probe.ts").write_text(source)
    (tmp_path / "tsconfig.json").write_text(json.dumps({
        "compilerOptions": {"strict": True, "noEmit": True, "module": "ES2022", "target": "ES2022",
                            "moduleResolution": "bundler", "types": [], "skipLibCheck": True},
        "files": ["probe.ts"],
    }))
    _tsc(tmp_path / "tsconfig.json", source)
