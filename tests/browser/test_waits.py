"""Every wait_for_function in the browser tests polls a function, never a bare expression.

Playwright evaluates a bare expression with eval() on every poll after the first. The first
check runs inside the DevTools call, which the page's Content-Security-Policy lets through;
the later ones run from requestAnimationFrame, where `script-src 'self'` forbids eval. So a
bare expression passes when it is already true and fails when it has to wait (a red CI run
did exactly that). A function is evaluated once and then called, which the policy allows.
"""
import ast
from pathlib import Path

HERE = Path(__file__).resolve().parent


def bare_waits(source, name="<test>"):
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "wait_for_function" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            text = node.args[0].value.lstrip()
            if not (text.startswith("(") or text.startswith("function") or text.startswith("async")):
                found.append(f"{name}:{node.lineno}")
    return found


def test_the_check_tells_a_bare_expression_from_a_function():
    assert bare_waits('page.wait_for_function("window.x === 1")') == ["<test>:1"]
    assert bare_waits('page.wait_for_function("() => window.x === 1")') == []
    assert bare_waits('page.wait_for_function("(kind) => window.x === kind", arg=1)') == []


def test_no_browser_test_waits_on_a_bare_expression():
    found = [hit for path in sorted(HERE.glob("*.py")) for hit in bare_waits(path.read_text(), path.name)]
    assert found == []
