"""Everything XMPP: the component, subscriptions, publisher, commands, admin, wiring and the CLI."""

__version__ = "0.1.0"
