"""`cpq users|keys`: people who use the service, and the API keys systems call it with."""

from __future__ import annotations

import click

from cli.common import database, emit_json, json_option
from core import apikeys
from core.permissions import KEY_SCOPES
from core.settings import Settings
from core.users import ROLES, create_user, find_user, list_users, new_token, set_password
from rules.store import approval_levels


@click.group()
def users():
    """People who own, approve and manage quotes, and their API tokens."""


@users.command("add")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--level", "levels", multiple=True, metavar="LEVEL",
              help="An approval level the user holds (repeatable), one the active rule sets define, "
                   "e.g. sales_manager.")
@click.option("--team", help="Reps see the quotes of their team.")
@click.option("--password", "ask_password", is_flag=True, help="Prompt for a password to sign in to the web pages.")
def users_add(email, name, role, levels, team, ask_password):
    """Create a user and print their API token (shown once; only its hash is kept)."""
    password = click.prompt("password", hide_input=True, confirmation_prompt=True) if ask_password else None
    with database() as session:
        user, token = create_user(session, email, name, role, levels, defined_levels=approval_levels(session),
                                  team=team, password=password)
        click.echo(f"{user.email} ({user.role}) id {user.id}")
        click.echo(f"token: {token}")


@users.command("token")
@click.argument("email")
def users_token(email):
    """Replace a user's API token with a new one and print it (the old one stops working)."""
    with database() as session:
        token = new_token(session, email)
        click.echo(f"token: {token}")


@users.command("password")
@click.argument("email")
def users_password(email):
    """Set a user's password (prompted twice, never echoed)."""
    password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    with database() as session:
        set_password(find_user(session, email), password)
    click.echo("password set")


@users.command("list")
@json_option
def users_list(as_json):
    with database() as session:
        data = [{"id": u.id, "email": u.email, "name": u.name, "role": u.role, "team": u.team,
                 "approval_levels": list(u.approval_levels), "active": u.active} for u in list_users(session)]
    if as_json:
        emit_json(data)
    for u in data if not as_json else ():
        levels = f" [{', '.join(u['approval_levels'])}]" if u["approval_levels"] else ""
        click.echo(f"{u['email']:<32} {u['role']:<9} {u['name']}{levels}")


@click.group()
def keys():
    """API keys: how an ERP or CRM calls the API, within scopes, as the user who owns the key."""


@keys.command("create")
@click.option("--owner", "owner_email", required=True, help="The user the key acts as (email).")
@click.option("--name", required=True, help="What the key is for, e.g. 'SAP production'.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(KEY_SCOPES),
              help="A permission the key has (repeatable); the owner must hold it.")
@click.option("--rate-limit", default=apikeys.DEFAULT_RATE_LIMIT, show_default=True,
              help="At most the per-user limit (CPQ_RATE_LIMIT).")
def keys_create(owner_email, name, scopes, rate_limit):
    """Create a key and print its secret (shown once; only its hash is kept)."""
    with database() as session:
        key, secret = apikeys.create_key(session, find_user(session, owner_email), name, list(scopes), rate_limit,
                                         owner_limit=Settings.from_env().rate_limit)
        click.echo(f"key {key.id} {key.name!r}: {', '.join(key.scopes)} ({key.rate_limit})")
        click.echo(f"secret: {secret}")


@keys.command("list")
@json_option
def keys_list(as_json):
    with database() as session:
        data = [{"id": k.id, "name": k.name, "display": k.display, "owner_id": k.owner_id, "scopes": list(k.scopes),
                 "rate_limit": k.rate_limit, "revoked": k.revoked_at is not None} for k in apikeys.keys_of(session)]
    if as_json:
        emit_json(data)
        return
    for k in data:
        state = "revoked" if k["revoked"] else k["rate_limit"]
        click.echo(f"{k['id']:>4} {k['display']:<12} {k['name']:<24} {state:<12} {' '.join(k['scopes'])}")


@keys.command("revoke")
@click.argument("key_id", type=int)
@click.option("--by", "admin_email", required=True, help="The owner, or a user holding users:manage (email).")
def keys_revoke(key_id, admin_email):
    """Stop a key at once."""
    with database() as session:
        key = apikeys.revoke_key(session, key_id, find_user(session, admin_email))
        click.echo(f"key {key.id} {key.name!r} revoked")
