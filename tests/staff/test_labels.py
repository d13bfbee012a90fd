"""Every audit event the code records has words for the account's history: the source is read
for the event names, so a new event without a label fails here."""

import ast
from pathlib import Path

from flask_babel import force_locale

from idp.staff.labels import EVENT_LABELS, STATE_LABEL, STATE_LABELS, UNKNOWN_EVENT, event_label

SOURCE = Path(__file__).resolve().parents[2] / "idp"
AUDIT_FUNCTIONS = {"audit", "audit_many"}


def _name(call):
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)


def _strings(node):
    """The string constants an expression can evaluate to (`"a" if x else "b"` gives both)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    return set()


def _argument(call, function, parameter):
    """The expression passed for `parameter` of `function` (a def) in `call`, or None."""
    names = [each.arg for each in function.args.args]
    offset = 1 if names and names[0] == "self" else 0
    for keyword in call.keywords:
        if keyword.arg == parameter:
            return keyword.value
    position = names.index(parameter) - offset
    return call.args[position] if 0 <= position < len(call.args) else None


def recorded_events():
    """Every event name the code passes to `audit`/`audit_many`: literals, and for a name built
    from a parameter (an f-string, a variable), the literals every caller passes for it; a
    parameter fed from an object's attribute (`replay.event`) is followed to the literals the
    object's constructor receives for the parameter of that name."""
    trees = [ast.parse(path.read_text(), str(path)) for path in SOURCE.rglob("*.py") if "migrations" not in path.parts]
    nodes = [node for tree in trees for node in ast.walk(tree)]
    functions = [node for node in nodes if isinstance(node, ast.FunctionDef) and node.name not in AUDIT_FUNCTIONS]
    constructors = {
        node.name: init
        for node in nodes
        if isinstance(node, ast.ClassDef)
        for init in node.body
        if isinstance(init, ast.FunctionDef) and init.name == "__init__"
    }

    def passed(name, function, parameter):
        values = set()
        for node in nodes:
            if isinstance(node, ast.Call) and _name(node) == name:
                values |= _strings(_argument(node, function, parameter) or ast.Constant(None))
        return values

    def resolve(function, parameter):
        values = passed(function.name, function, parameter)
        if not values:
            for name, init in constructors.items():
                if parameter in [each.arg for each in init.args.args]:
                    values |= passed(name, init, parameter)
        return values

    events, unresolved = set(), []
    for function in functions:
        for call in (node for node in ast.walk(function) if isinstance(node, ast.Call) and _name(node) in AUDIT_FUNCTIONS):
            first = call.args[0]
            found = _strings(first)
            if isinstance(first, ast.JoinedStr):
                variable = next(each.value.id for each in first.values if isinstance(each, ast.FormattedValue))
                suffix = "".join(each.value for each in first.values if isinstance(each, ast.Constant))
                found = {value + suffix for value in resolve(function, variable)}
            elif isinstance(first, ast.Name):
                found = resolve(function, first.id)
            if not found:
                unresolved.append(ast.unparse(call))
            events |= found
    return events, unresolved


def test_every_recorded_event_has_words():
    events, unresolved = recorded_events()
    assert not unresolved, f"event names the test cannot read: {unresolved}"
    assert {"password_reset_requested", "login_provisional", "account_issued", "teleservices_refusal_withdrawn"} <= events
    assert {"forgotten_password_throttled", "password_change_wrong_password", "code_replayed", "refresh_token_reused"} <= events
    missing = sorted(events - EVENT_LABELS.keys())
    assert not missing, f"events without a label in idp/staff/labels.py: {missing}"


def test_labels_are_words_in_both_languages(app):
    with app.test_request_context():
        for locale in ("fr", "en"):
            with force_locale(locale):
                for code, label in EVENT_LABELS.items():
                    assert "_" not in str(label) and str(label)[0].isupper(), (locale, code, str(label))
                assert str(event_label("not_an_event")) == str(UNKNOWN_EVENT)
        with force_locale("en"):
            assert str(EVENT_LABELS["password_reset_requested"]) == "Forgotten password request"
            assert str(STATE_LABEL[next(iter(STATE_LABELS))]) != str(STATE_LABELS[next(iter(STATE_LABELS))])
    assert STATE_LABEL.keys() == STATE_LABELS.keys()
