"""A Lambda runtime that streams its responses, written against the Runtime API's wire format
alone (chunked `/response` with the streaming mode header and error trailers), so that the
local Lambda's side of response streaming is tested independently of lambda-kit's.

The function answers a function URL event in the HTTP integration's framing: a JSON prelude,
eight NUL bytes, then the body, in two parts. Between them it waits for the file named by the
`gate` query parameter (the test creates it once it has read the first part: a local Lambda
that buffered the stream would never let it), and at `/fail` it ends the stream with error
trailers instead.
"""

import base64
import http.client
import json
import os
import socket
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.split(":")


def next_invocation():
    connection = http.client.HTTPConnection(HOST, int(PORT))
    connection.request("GET", "/2018-06-01/runtime/invocation/next")
    response = connection.getresponse()
    event = json.loads(response.read() or b"{}")
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    connection.close()
    return request_id, event


def stream(request_id, event):
    params = event.get("queryStringParameters") or {}
    sock = socket.create_connection((HOST, int(PORT)))
    sock.sendall(
        (
            f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\n"
            f"Host: {API}\r\n"
            "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
            "Content-Type: application/vnd.awslambda.http-integration-response\r\n"
            "\r\n"
        ).encode()
    )

    def chunk(data):
        sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")

    prelude = {
        "statusCode": 201,
        "headers": {"content-type": "text/plain", "x-streamed": "yes"},
        "cookies": ["flavour=oat"],
    }
    chunk(json.dumps(prelude).encode() + b"\0" * 8 + b"first\n")
    gate = params.get("gate")
    waited = 0.0
    while gate and not os.path.exists(gate) and waited < 20:
        time.sleep(0.02)
        waited += 0.02
    chunk(b"second\n")
    if event.get("rawPath") == "/fail":
        error = {"errorType": "Broke", "errorMessage": "mid-stream"}
        body = base64.b64encode(json.dumps(error).encode())
        sock.sendall(
            b"0\r\nLambda-Runtime-Function-Error-Type: Broke\r\n"
            b"Lambda-Runtime-Function-Error-Body: " + body + b"\r\n\r\n"
        )
    else:
        sock.sendall(b"0\r\n\r\n")
    answer = sock.recv(1024)
    assert b" 202 " in answer.split(b"\r\n")[0], answer
    sock.close()


while True:
    request_id, event = next_invocation()
    stream(request_id, event)
