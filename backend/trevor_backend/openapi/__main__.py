"""``python -m trevor_backend.openapi > docs/openapi.json``: the document of the API's routes."""

import sys

from ..web import api_routes
from . import render

sys.stdout.write(render(api_routes()))
