"""Template helpers shared by every page."""

from flask import current_app, request
from flask_babel import get_locale

from .accounts.deadlines import activation_deadline
from .accounts.delays import inactivity_rule


def cached_fragment(name, caller):
    """The HTML of a part of the page frame that depends on nothing but the language and
    the application's root (the head's links, the footer): rendered once per process and
    language, then reused, so that a page pays for its own content only.

    Used as `{% call cached_fragment("footer") %}…{% endcall %}`; nothing in the fragment
    may depend on the request, the person or the page.
    """
    key = (name, str(get_locale()), request.script_root)
    fragments = current_app.extensions.setdefault("idp.fragments", {})
    html = fragments.get(key)
    if html is None:
        html = fragments[key] = caller()
    return html


def init_app(app):
    app.jinja_env.globals["cached_fragment"] = cached_fragment
    # The rules of the life cycle that pages and emails state in words.
    app.jinja_env.globals["inactivity_rule"] = inactivity_rule
    app.jinja_env.globals["activation_deadline"] = activation_deadline
