"""A Python function on the AWS runtime interface client, to check `serve` against it."""


def greet(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    print("python says hi")
    return {
        "hello": event.get("name", "world"),
        "requestId": context.aws_request_id,
        "function": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remainingMs": context.get_remaining_time_in_millis(),
    }
