"""WSGI entry point of the Emu WPS backend (birdhouse-emu on PyWPS) for the interop suite.

Adapted from ../../../../shared/reference/emu_app.py. It serves the PyWPS service at
/wps and the process outputs and status documents at /wps/outputs, under the service
URL (see emu.cfg.in), as `emu start` would, but under gunicorn instead of werkzeug's
development server. Configuration: emu's default.cfg, then $PYWPS_CFG.
"""
import os

if not os.path.isfile(os.environ.get("PYWPS_CFG", "")):
    raise SystemExit("emu_app: PYWPS_CFG must name the suite's rendered emu.cfg")

from pywps import configuration  # noqa: E402
from werkzeug.middleware.shared_data import SharedDataMiddleware  # noqa: E402

from emu.wsgi import application as _emu  # noqa: E402

_outputs = configuration.get_config_value("server", "outputpath")
os.makedirs(_outputs, exist_ok=True)
application = SharedDataMiddleware(_emu, {"/wps/outputs": _outputs})
