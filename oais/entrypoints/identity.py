"""Who runs a command: the person behind every action the action log records.

On the command line the actor is the API token in ``OAIS_TOKEN`` when one is set (checked against
the token store: its name and role), otherwise the operating-system user running ``oais``, who
holds the catalog's and the storage's credentials and so acts as an administrator. A token that is
unknown or revoked is refused (and recorded in the access log, like a refused HTTP request): an
action is never recorded under a name nobody proved.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping

from oais.domain.access_control import AccessLogEntry, Role
from oais.domain.actions import Actor, Basis
from oais.domain.errors import AccessDenied
from oais.domain.ports import AccessLog, Clock, TokenStore

#: The environment variable that holds the API token of the person running ``oais``.
TOKEN_VARIABLE = "OAIS_TOKEN"

#: The method recorded in the access log for a command-line authentication.
CLI_METHOD = "CLI"


def os_user(environ: Mapping[str, str]) -> str:
    """The operating-system user running the process, and the one behind ``sudo`` if any."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container): the numeric id still names someone
        user = f"uid {os.getuid()}"
    behind = environ.get("SUDO_USER")
    return f"{behind} (sudo as {user})" if behind and behind != user else user


def cli_actor(
    command: str, tokens: TokenStore, access_log: AccessLog, clock: Clock, environ: Mapping[str, str]
) -> Actor:
    """The actor of a command-line action.

    Args:
        command: the command, e.g. ``"deaccession approve"`` (recorded with a refused token).
        tokens: the API tokens.
        access_log: where a refused token is recorded.
        clock: the time of that record.
        environ: the process environment (``OAIS_TOKEN``, ``SUDO_USER``).

    Returns:
        The token's holder and role, or the operating-system user as an administrator.

    Raises:
        AccessDenied: ``OAIS_TOKEN`` is set but is not a valid token.
        CatalogError: the database failed.
    """
    secret = environ.get(TOKEN_VARIABLE, "").strip()
    if not secret:
        return Actor(name=os_user(environ), basis=Basis.OS_USER, role=Role.ADMIN)
    token = tokens.authenticate(secret)
    if token is None:
        access_log.record(
            AccessLogEntry(time=clock.now(), token=None, method=CLI_METHOD, path=command, status=401)
        )
        raise AccessDenied(
            f"{TOKEN_VARIABLE} holds no valid API token (unknown or revoked): ask an administrator for "
            f"one (oais token add), or unset {TOKEN_VARIABLE} to act as the operating-system user"
        )
    return Actor(name=token.name, basis=Basis.TOKEN, role=token.role)
