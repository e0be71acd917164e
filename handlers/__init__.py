"""Use cases, one module per family; every command is declared once in `registry.py`."""
