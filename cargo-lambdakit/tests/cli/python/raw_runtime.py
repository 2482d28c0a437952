"""A Lambda runtime written against the Runtime API's wire format alone (no runtime library), so
that the local Lambda's answers to a runtime that misbehaves on purpose are tested as Lambda gives
them. What it does with an invocation is the event's `do`:

- `describe`: answers with what it was handed: the trace header and its environment's log stream;
- `oversized`: posts a response of 7 MB, and prints the Runtime API's answer to its log;
- `twice`: answers, then posts a second response for the same request, printing that answer;
- `stranger`: posts a response for a request id it was never handed, then answers with what the
  Runtime API said to that.
"""

import http.client
import json
import os
import sys

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.split(":")
BASE = "/2018-06-01/runtime/invocation/"


def call(method, path, body=None):
    connection = http.client.HTTPConnection(HOST, int(PORT))
    connection.request(method, path, body=body)
    response = connection.getresponse()
    answer = response.read()
    headers = dict((name.lower(), value) for name, value in response.getheaders())
    connection.close()
    return response.status, headers, answer


def respond(request_id, document):
    return call("POST", BASE + request_id + "/response", json.dumps(document).encode())


def log(text):
    print(text, file=sys.stderr, flush=True)


while True:
    _, headers, body = call("GET", BASE + "next")
    request_id = headers["lambda-runtime-aws-request-id"]
    event = json.loads(body or b"{}")
    action = event.get("do")
    if action == "describe":
        respond(
            request_id,
            {
                "trace": headers.get("lambda-runtime-trace-id"),
                "logStream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
            },
        )
    elif action == "oversized":
        status, _, answer = call("POST", BASE + request_id + "/response", b"x" * (7 * 1024 * 1024))
        log(f"oversized response answered {status} {answer.decode()}")
    elif action == "twice":
        respond(request_id, {"first": True})
        status, _, answer = respond(request_id, {"second": True})
        log(f"second response answered {status} {answer.decode()}")
    elif action == "stranger":
        status, _, answer = respond("0000-not-handed-out", {"stranger": True})
        respond(request_id, {"status": status, "answer": json.loads(answer)})
    else:
        respond(request_id, {"unknown": action})
