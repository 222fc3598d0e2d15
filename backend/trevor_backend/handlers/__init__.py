"""HTTP handlers, one module per resource; ``web.py`` holds the route table."""
