#!/usr/bin/python3
"""A runtime on the raw wire format that answers every invocation with a function URL's `ok`."""

import os, urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as next:
        request_id = next.headers["Lambda-Runtime-Aws-Request-Id"]
        next.read()
    answer = b'{"statusCode": 200, "body": "ok"}'
    urllib.request.urlopen(urllib.request.Request(
        f"http://{api}/2018-06-01/runtime/invocation/{request_id}/response", data=answer)).read()
