"""The capture lab: WebSocket scenarios recorded on loopback with real peers.

See README.md beside this file.  ``python -m tests.lab list|record``.
"""
