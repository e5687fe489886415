"""Reading the agency directory file (TOML), checked against the agency list (`shared.agencies`)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.notifier.domain.directory import AgencyContacts, DirectoryError, validate_directory
from services.notifier.domain.targets import WebhookTargets, contacts_problems
from shared.agencies import agency_names

HERE = Path(__file__).resolve().parent
DIRECTORY_FILE = HERE / "agency_directory.toml"


def _resolve_secret(entry: dict[str, Any], key: str, environ: Mapping[str, str]) -> list[str]:
    """Replace a webhook's `secret_env` by the secret it names; the problems found, if any."""
    webhook = entry.get(key)
    if not isinstance(webhook, dict) or "secret_env" not in webhook:
        return []
    variable = webhook.pop("secret_env")
    if variable not in environ:
        return [f"{entry.get('code')}: {key}.secret_env: {variable} is not set"]
    webhook["secret"] = environ[variable]
    return []


def load_directory(
    path: Path = DIRECTORY_FILE,
    environ: Mapping[str, str] | None = None,
    agencies: Mapping[str, str] | None = None,
    *,
    targets: WebhookTargets,
) -> dict[str, AgencyContacts]:
    """The validated directory, every webhook where `targets` allow; raises DirectoryError
    listing every problem."""
    environ = os.environ if environ is None else environ
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise DirectoryError([f"{path}: {error}"]) from error
    entries = document.get("agency", [])
    problems = [
        problem
        for entry in entries
        for key in ("webhook", "sms_gateway")
        for problem in _resolve_secret(entry, key, environ)
    ]
    if problems:
        raise DirectoryError(problems)
    directory = validate_directory(entries, agency_names() if agencies is None else agencies)
    problems = [p for contacts in directory.values() for p in contacts_problems(contacts, targets)]
    if problems:
        raise DirectoryError(problems)
    return directory
