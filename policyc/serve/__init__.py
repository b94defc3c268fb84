"""The decision service: a thin ASGI layer over the runtime (it never imports the compiler)."""
