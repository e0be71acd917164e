"""WeCom transport: callback handling, the outbound API client and a fake WeCom server."""
