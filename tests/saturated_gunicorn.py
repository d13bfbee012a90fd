"""gunicorn's settings for tests/test_gunicorn_worker.py: deploy/gunicorn.conf.py's, one worker
of one thread, whose login slots are all taken as soon as it starts, as by logins in progress."""

import runpy
from pathlib import Path

_deployed = runpy.run_path(str(Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"))
globals().update({name: value for name, value in _deployed.items() if not name.startswith("__")})
workers = 1
threads = 1


def post_worker_init(worker):
    _deployed["post_worker_init"](worker)
    login_gate = worker.wsgi.extensions["idp.login_gate"]
    while login_gate.enter():
        pass
