"""The soak test's function (`tests/cli/soak.rs`), on the Runtime API's wire format alone. Its
event is `{"id": ID, "do": ACTION}`; it first appends `ran ID REQUEST_ID` to `$SOAK_RECORD`, then
does what ACTION says:

- `ok`: answers `{"id": ID}`;
- `error`: reports an error of type `Soak`;
- `crash`: exits without answering;
- `sleep`: sleeps past any timeout the test gives the function;
- `large`: answers `{"id": ID, "fill": "xxx..."}` with a fill of 1 MiB;
- `slow`: creates `$SOAK_DIR/started-ID` (its caller hangs up then), sleeps 0.3 s, appends
  `end ID`, and answers.
"""

import http.client
import json
import os
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.split(":")
BASE = "/2018-06-01/runtime/invocation/"
RECORD = os.environ["SOAK_RECORD"]
DIR = os.environ["SOAK_DIR"]
LARGE = 1024 * 1024


def call(method, path, body=None):
    connection = http.client.HTTPConnection(HOST, int(PORT))
    connection.request(method, path, body=body)
    response = connection.getresponse()
    answer = response.read()
    headers = dict((name.lower(), value) for name, value in response.getheaders())
    connection.close()
    return response.status, headers, answer


def record(line):
    # One write of one short line with O_APPEND: lines of concurrent instances never mix.
    fd = os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def respond(request_id, document):
    call("POST", BASE + request_id + "/response", json.dumps(document).encode())


while True:
    _, headers, body = call("GET", BASE + "next")
    request_id = headers["lambda-runtime-aws-request-id"]
    event = json.loads(body or b"{}")
    ident, action = event.get("id"), event.get("do")
    record(f"ran {ident} {request_id}")
    if action == "ok":
        respond(request_id, {"id": ident})
    elif action == "error":
        error = {"errorType": "Soak", "errorMessage": f"{ident} failed on purpose"}
        call("POST", BASE + request_id + "/error", json.dumps(error).encode())
    elif action == "crash":
        os._exit(3)
    elif action == "sleep":
        time.sleep(600)
    elif action == "large":
        respond(request_id, {"id": ident, "fill": "x" * LARGE})
    elif action == "slow":
        open(os.path.join(DIR, "started-" + ident), "w").close()
        time.sleep(0.3)
        record(f"end {ident}")
        respond(request_id, {"id": ident})
    else:
        respond(request_id, {"unknown": action})
