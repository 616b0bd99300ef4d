"""`cpq mail list|show|retry`: the e-mail outbox, as the API shows it (GET /api/v1/mail)."""

from __future__ import annotations

import click

from api.mail_schemas import MailMessageBodySchema, MailMessageSchema
from cli.common import database, emit_json, json_option
from core import mail
from core.settings import Settings


@click.group("mail")
def mail_():
    """The e-mail outbox: list messages, show one, send one again."""


@mail_.command("list")
@click.option("--status", type=click.Choice(mail.STATUSES), help="Only messages in this state.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@json_option
def mail_list(status, limit, as_json):
    """The newest messages first."""
    with database() as session:
        rows = MailMessageSchema(many=True).dump([mail.as_listed(m) for m in mail.list_messages(session, status, limit)])
    if as_json:
        return emit_json(rows)
    if not rows:
        click.echo("the outbox is empty")
    for row in rows:
        why = f"  ({row['last_error']})" if row["last_error"] else ""
        click.echo(f"{row['id']:>6}  {row['status']:<7}  {row['created_at'][:16]}  {', '.join(row['recipients']) or '-'}"
                   f"  {row['subject']}{why}")


@mail_.command("show")
@click.argument("message_id", type=int)
@json_option
def mail_show(message_id, as_json):
    """One message with its text body (the HTML with --json)."""
    with database() as session:
        row = MailMessageBodySchema().dump(mail.as_shown(mail.get_message(session, message_id), Settings.from_env()))
    if as_json:
        return emit_json(row)
    click.echo(f"To: {', '.join(row['recipients'])}\nSubject: {row['subject']}\nStatus: {row['status']}"
               f"{' (' + row['last_error'] + ')' if row['last_error'] else ''}\n")
    for attachment in row["attachments"]:
        click.echo(f"Attached: {attachment['filename']}")
    click.echo(row["text"])


@mail_.command("retry")
@click.argument("message_id", type=int)
@json_option
def mail_retry(message_id, as_json):
    """Send a failed or waiting message again now (a sent one is never sent twice)."""
    with database() as session:
        row = MailMessageSchema().dump(mail.retry(session, message_id))
    if as_json:
        return emit_json(row)
    click.echo(f"message {row['id']}: {row['status']}")
