"""A Python function on awslambdaric that traces with OpenTelemetry's own SDK and OTLP/HTTP
exporter (not lambdakit's), to check the local Lambda's OTLP receiver against them. Its spans
continue the invocation's trace (`_X_AMZN_TRACE_ID`, which awslambdaric sets per invocation):
their parent is the function segment Lambda made, as an X-Ray propagator would make it. The
exporter finds the receiver through `OTEL_EXPORTER_OTLP_ENDPOINT`, which serve sets.
"""

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

provider = TracerProvider(resource=Resource.create({"service.name": "otel-orders"}))
# Each span is exported as it ends: nothing is left behind when the invocation is over.
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("otel_handler")


def lambda_context():
    """The function segment as the parent, from `Root=1-{time}-{random};Parent={id};Sampled=1`."""
    fields = dict(
        field.split("=", 1) for field in os.environ.get("_X_AMZN_TRACE_ID", "").split(";") if "=" in field
    )
    _, time, random = fields["Root"].split("-")
    flags = TraceFlags(TraceFlags.SAMPLED if fields.get("Sampled") == "1" else TraceFlags.DEFAULT)
    parent = SpanContext(int(time + random, 16), int(fields["Parent"], 16), is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(NonRecordingSpan(parent))


def handle(event, context):
    with tracer.start_as_current_span("handle order", context=lambda_context()):
        with tracer.start_as_current_span("DynamoDB.GetItem", kind=SpanKind.CLIENT) as call:
            call.set_attribute("rpc.system", "aws-api")
            call.set_attribute("aws.request_id", "OTEL-REQ-7")
        with tracer.start_as_current_span("validate") as validate:
            validate.set_status(Status(StatusCode.ERROR, "quantity must be at least 1"))
    return {"traced": True}
