# Runs JupyterHub's own next-URL validation (BaseHandler._validate_next_url of the
# installed jupyterhub) on a JSON list of next values read from stdin; prints the
# answers as a JSON list ("" = refused). Used by the security suite's differential test.
import json, logging, sys, types
from urllib.parse import urlparse
from jupyterhub.handlers.base import BaseHandler
public = sys.argv[1]
fake = types.SimpleNamespace(settings={"public_url": urlparse(public)}, subdomain_host="", log=logging.getLogger("x"))
inputs = json.load(sys.stdin)
print(json.dumps([BaseHandler._validate_next_url(fake, s) for s in inputs]))
