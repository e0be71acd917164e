"""The command language: normalisation, lookup and the registry of command specs."""
