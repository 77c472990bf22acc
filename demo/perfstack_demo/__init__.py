"""perfstack's demo app: a chat-like ASGI service that implements the perfstack app contract.

Run it with ``python -m perfstack_demo`` (uvicorn on ``$HOST:$PORT``, default
0.0.0.0:8080) and drive it with ``python -m perfstack_demo.loadgen``.
"""
