"""liuan-bot core: WeCom transport, command grammar and dispatch, settings, outbox.

Nothing here opens a connection or reads the environment at import time; `bot.py` wires it.
"""
