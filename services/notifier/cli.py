"""`lapor-hub notifier`: the agency directory, API keys and dead letters, for operators."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer

from services.notifier.directory import DIRECTORY_FILE
from services.notifier.domain.staff import MIN_PASSWORD_LENGTH

notifier_app = typer.Typer(help="The notifier: agency directory, API keys, dead letters.")
directory_app = typer.Typer(help="The agency directory.", no_args_is_help=True)
keys_app = typer.Typer(help="Inbox API keys (stored hashed).", no_args_is_help=True)
notifier_app.add_typer(directory_app, name="directory")
notifier_app.add_typer(keys_app, name="keys")

FILE_OPTION = typer.Option(DIRECTORY_FILE, "--file", help="Directory file (TOML)")
T = TypeVar("T")


def _with_repository(work: Callable[..., Awaitable[T]]) -> T:
    """Run `work(repository)` in one transaction on the configured database."""
    import asyncpg

    from services.notifier.repository import NotifierRepository
    from services.notifier.settings import NotifierSettings

    async def run() -> T:
        connection = await asyncpg.connect(NotifierSettings().database_url)
        try:
            async with connection.transaction():
                return await work(NotifierRepository(connection))
        finally:
            await connection.close()

    return asyncio.run(run())


def _load(file: Path) -> list[object]:
    from services.notifier.directory import load_directory
    from services.notifier.domain.directory import DirectoryError
    from services.notifier.settings import NotifierSettings

    try:
        return list(load_directory(file, targets=NotifierSettings().webhook_targets()).values())
    except DirectoryError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error


@directory_app.command("check")
def directory_check(file: Path = FILE_OPTION) -> None:
    """Validate the directory file (every problem listed) without touching the database."""
    typer.echo(f"{file}: {len(_load(file))} agencies, valid")


@directory_app.command("load")
def directory_load(file: Path = FILE_OPTION) -> None:
    """Load the file into the database (agencies edited through the API or CLI are kept)."""
    agencies = _load(file)
    _with_repository(lambda repository: repository.load_directory(agencies))
    typer.echo(f"loaded {len(agencies)} agencies from {file}")


@directory_app.command("show")
def directory_show(agency_code: str) -> None:
    """Print an agency's contacts as JSON (webhook secrets left out)."""
    contacts = _with_repository(lambda repository: repository.contacts(agency_code))
    if contacts is None:
        typer.secho(f"no contacts for {agency_code}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(
        contacts.model_dump_json(
            indent=2, exclude={"webhook": {"secret"}, "sms_gateway": {"secret"}}
        )
    )


@directory_app.command("set")
def directory_set() -> None:
    """Replace one agency's contacts with the JSON read on stdin (kept over the file); the
    change is recorded with the user's name and the agency's old addresses are told."""
    from pydantic import ValidationError

    from services.notifier.domain.directory import AgencyContacts
    from services.notifier.domain.targets import contacts_problems
    from services.notifier.settings import NotifierSettings

    try:
        contacts = AgencyContacts.model_validate_json(sys.stdin.read())
    except ValidationError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error
    problems = contacts_problems(contacts, NotifierSettings().webhook_targets())
    if problems:
        typer.secho("\n".join(problems), fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    import getpass

    from services.notifier.service import change_contacts

    who = f"command line ({getpass.getuser()})"
    _with_repository(lambda repository: change_contacts(repository, contacts, who))
    typer.echo(f"{contacts.code}: contacts replaced; the old addresses are told")


@keys_app.command("create")
def keys_create(
    name: str,
    agency: str | None = typer.Option(None, help="Agency code: the key of that agency's inbox"),
    role: str | None = typer.Option(
        None, help="Without --agency, a key of the hub: directory_admin or dead_letter_operator"
    ),
) -> None:
    """Create a key and print it: it is stored hashed and cannot be shown again."""
    from services.notifier.repository import KeyRole

    hub_roles = {KeyRole.DIRECTORY_ADMIN.value, KeyRole.DEAD_LETTER_OPERATOR.value}
    if (agency is None) == (role is None) or (role is not None and role not in hub_roles):
        typer.secho(
            f"give either --agency CODE or --role ({' or '.join(sorted(hub_roles))})",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    chosen = KeyRole(role) if role else KeyRole.AGENCY
    key = _with_repository(lambda repository: repository.create_api_key(name, agency, chosen))
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke a key by its name."""
    if not _with_repository(lambda repository: repository.revoke_api_key(name)):
        typer.secho(f"no active key named {name}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"{name}: revoked")


@notifier_app.command("dead-letters")
def dead_letters() -> None:
    """List deliveries that exhausted their attempts, as JSON lines."""
    rows = _with_repository(lambda repository: repository.dead_letters())
    for row in rows:
        typer.echo(json.dumps(row, default=str))


@notifier_app.command("retry")
def retry(delivery_id: uuid.UUID) -> None:
    """Send a dead letter again, with a fresh set of attempts."""
    if not _with_repository(lambda repository: repository.retry_dead(delivery_id)):
        typer.secho(f"no dead letter {delivery_id}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"{delivery_id}: queued again")


instansi_app = typer.Typer(
    help="Staff accounts of the agency web inbox (/instansi): one per person, passwords hashed.",
    no_args_is_help=True,
)
PASSWORD_OPTION = typer.Option(
    ...,
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help=f"At least {MIN_PASSWORD_LENGTH} characters (asked for when not given)",
)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _password_hash(password: str) -> str:
    from services.notifier.domain.staff import hash_password, password_problem

    problem = password_problem(password)
    if problem:
        _fail(problem, 2)
    return hash_password(password)


@instansi_app.command("create")
def instansi_create(
    username: str,
    agency: str = typer.Option(..., help="The agency's code (shared/agencies.csv), e.g. 63.pupr"),
    name: str = typer.Option(..., help="The staff member's full name, shown in every action"),
    password: str = PASSWORD_OPTION,
) -> None:
    """Create a staff member's account of an agency."""
    from services.notifier.domain.staff import username_problem
    from shared.agencies import agency_names

    username = username.strip().lower()
    if problem := username_problem(username):
        _fail(problem, 2)
    if agency not in agency_names():
        _fail(f"unknown agency {agency!r} (see shared/agencies.csv)", 2)
    hashed = _password_hash(password)
    created = _with_repository(
        lambda repository: repository.create_staff(username, agency, name.strip(), hashed)
    )
    if not created:
        _fail(f"{username}: the username is taken")
    typer.echo(f"{username}: account of {agency} created; log in at /instansi")


@instansi_app.command("password")
def instansi_password(username: str, password: str = PASSWORD_OPTION) -> None:
    """Set an account's password again (and enable it); its open sessions end."""
    hashed = _password_hash(password)
    if not _with_repository(lambda repository: repository.set_staff_password(username, hashed)):
        _fail(f"no account {username}")
    typer.echo(f"{username}: password set")


@instansi_app.command("disable")
def instansi_disable(username: str) -> None:
    """Disable an account (someone left the agency); its open sessions end."""
    if not _with_repository(lambda repository: repository.disable_staff(username)):
        _fail(f"no enabled account {username}")
    typer.echo(f"{username}: disabled")


@instansi_app.command("list")
def instansi_list() -> None:
    """Every account, as JSON lines."""
    for row in _with_repository(lambda repository: repository.staff_list()):
        typer.echo(json.dumps(row, default=str))
