"""A Python function on awslambdaric that sends X-Ray segment documents by hand, as the
published segment document schema describes them, to the daemon Lambda names in
`AWS_XRAY_DAEMON_ADDRESS`: a subsegment of the function segment (its `parent_id` is the
`Parent` of `_X_AMZN_TRACE_ID`) sent first in progress and then complete, with an `aws`
subsegment nested in it that failed. Like the X-Ray SDK, it sends nothing when the invocation
is not sampled.
"""

import json
import os
import socket
import time

HEADER = b'{"format": "json", "version": 1}\n'


def send(document):
    host, port = os.environ["AWS_XRAY_DAEMON_ADDRESS"].split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(HEADER + json.dumps(document).encode(), (host, int(port)))


def handle(event, context):
    fields = dict(
        field.split("=", 1) for field in os.environ.get("_X_AMZN_TRACE_ID", "").split(";") if "=" in field
    )
    if fields.get("Sampled") != "1":
        return {"sent": False}
    checkout = {
        "type": "subsegment",
        "id": os.urandom(8).hex(),
        "trace_id": fields["Root"],
        "parent_id": fields["Parent"],
        "name": "checkout",
        "start_time": time.time(),
        "in_progress": True,
    }
    send(checkout)
    started = time.time()
    time.sleep(0.02)
    checkout.pop("in_progress")
    checkout["end_time"] = time.time()
    checkout["annotations"] = {"order": "o-1"}
    checkout["subsegments"] = [
        {
            "id": os.urandom(8).hex(),
            "name": "S3",
            "namespace": "aws",
            "start_time": started,
            "end_time": started + 0.01,
            "aws": {"operation": "GetObject", "region": "us-east-1", "request_id": "XRAY-REQ-42"},
            "http": {"response": {"status": 404}},
            "error": True,
            "cause": {"exceptions": [{"type": "NoSuchKey", "message": "The specified key does not exist."}]},
        }
    ]
    send(checkout)
    return {"sent": True}
