"""JupyterHub for a class on one server: local Unix accounts, one server process per user.

    sudo NBKIT_CLASS_SETTINGS=/etc/nbkit/class.json \\
        /opt/nbkit-course/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

Users log in with their Unix password (PAM); only members of the class's instructor and student
groups may. Each user's server runs as that user (so the file permissions of the exchange and of
the homes hold), from the course environment. The Hub listens on 127.0.0.1:8000: put a TLS
reverse proxy (nginx, Caddy) in front of it, or set ``c.JupyterHub.ssl_cert``/``ssl_key`` and
``bind_url``. Its state (database, cookie secret) lives in ``/srv/jupyterhub``. The class itself
(roles, environment, exchange) is ``class_config.py``.
"""

import os

c = get_config()  # noqa: F821 - injected by traitlets
HERE = os.path.dirname(os.path.abspath(__file__))
STATE = "/srv/jupyterhub"

c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.db_url = f"sqlite:///{STATE}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{STATE}/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = f"{STATE}/jupyterhub-proxy.pid"
c.JupyterHub.authenticator_class = "pam"
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 120

load_subconfig(os.path.join(HERE, "class_config.py"))  # noqa: F821

import class_settings  # noqa: E402 - on sys.path since class_config.py

_S = class_settings.load()
c.PAMAuthenticator.allowed_groups = {_S["instructors_group"], _S["students_group"]}
