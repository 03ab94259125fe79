"""What the three apps share and what stands above them.

``icelab.errors`` is the one service-error type and the one way to turn a validation
error into a message; it imports no app, so every app may use it. ``icelab.demo``
orchestrates all three apps and is the only module here that imports them.
"""
