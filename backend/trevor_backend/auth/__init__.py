"""Authentication: pluggable authenticators (``TrevorBackend.authenticator_class``)."""

from .base import Authenticator
from .tokens import TokenAuthenticator, create_token, hash_token

__all__ = ["Authenticator", "TokenAuthenticator", "create_token", "hash_token"]
