"""The domain: phone, chat and calendar state, and how they merge into one published presence.

Nothing in this package (outside ``sources/``) does I/O.
"""
