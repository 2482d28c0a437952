#!/usr/bin/python3
"""An external extension on the raw Extensions API, as a layer ships it (`extensions/py-ext`):
registers for INVOKE and SHUTDOWN and prints each event it gets."""

import json, os, urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
base = f"http://{api}/2020-01-01/extension"
register = urllib.request.Request(
    f"{base}/register",
    data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
    headers={"Lambda-Extension-Name": os.path.basename(__file__)},
    method="POST",
)
with urllib.request.urlopen(register) as answer:
    identifier = answer.headers["Lambda-Extension-Identifier"]
while True:
    next = urllib.request.Request(
        f"{base}/event/next", headers={"Lambda-Extension-Identifier": identifier}
    )
    with urllib.request.urlopen(next) as answer:
        event = json.load(answer)
    if event["eventType"] == "INVOKE":
        print("py-ext: INVOKE", event["requestId"], flush=True)
    else:
        print("py-ext: SHUTDOWN", event["shutdownReason"], flush=True)
        break
