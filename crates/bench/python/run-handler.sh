#!/bin/sh
# Starts the Python baseline as Lambda's python runtime would: the runtime interface client with
# the handler's module on the path. `exec`, so the process measured (memory) is Python itself.
cd "$(dirname "$0")" && exec "$BENCH_PYTHON" -m awslambdaric handler.handler
