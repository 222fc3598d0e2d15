"""Binder only (binder/start puts this directory on JUPYTER_CONFIG_PATH).

Binder reaches one port of the container: the researcher's JupyterLab. Each demo output
checker's JupyterLab (carol, dave: a revision needs two independent reviews) runs beside it as
a jupyter-server-proxy process, started on the first visit to
``<lab URL>/trevor-checker-<name>/lab`` (a Launcher tile opens it in a new tab). The proxy sits
behind the researcher lab's own login and adds the checker labs' token to every request, so that
token never reaches a browser and a checker's lab answers nothing that did not pass the proxy.
"""

import os
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (set by traitlets' config loader)

# Set by binder/start; the checkers' own JupyterLabs (same config path) get no proxy entries.
if os.environ.get("TREVOR_BINDER_CHECKER_LAB_TOKEN") and not os.environ.get("TREVOR_BINDER_ROLE"):
    auth = {"Authorization": "token " + os.environ["TREVOR_BINDER_CHECKER_LAB_TOKEN"]}
    checker_lab = str(Path(__file__).parent.parent / "checker-lab")
    c.ServerProxy.servers = {
        f"trevor-checker-{checker}": {
            "command": [checker_lab, checker, "{port}", "{base_url}"],
            # The checker's lab serves under the same prefix the browser uses.
            "absolute_url": True,
            "timeout": 180,
            "request_headers_override": auth,
            "launcher_entry": {
                "title": f"Airlock as checker {checker}",
                "path_info": f"trevor-checker-{checker}/lab",
                "category": "Other",
            },
            "new_browser_tab": True,
        }
        for checker in os.environ.get("TREVOR_BINDER_CHECKERS", "carol dave").split()
    }
