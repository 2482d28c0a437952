#!/usr/bin/python3
"""A runtime on the raw wire format that takes its invocation, writes its pid to `$PID_FILE` and
sleeps on it for a minute: for the emulator's tests of what ends an instance."""

import os, time, urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next").read()
pid_file = os.environ["PID_FILE"]
with open(pid_file + ".tmp", "w") as file:
    file.write(str(os.getpid()))
os.rename(pid_file + ".tmp", pid_file)
time.sleep(60)
