"""The `cpq` command: its commands, listed without loading them, and the one place where the
errors a user can cause become a message and exit status 1 instead of a traceback."""

from __future__ import annotations

import importlib

import click

#: name -> (module:attribute of the click command, the one-line summary `cpq --help` shows).
#: A command's module is imported only when that command runs or shows its own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("cli.database:db", "The database named by $DATABASE_URL (default: var/cpq.db)."),
    "models": ("cli.models:models", "Check, load and list product models."),
    "configure": ("cli.configurator:configure", "Validate selections and show each attribute's remaining values."),
    "complete": ("cli.configurator:complete", "Fill in every unselected attribute (defaults first)."),
    "explain": ("cli.configurator:explain", "Why ATTRIBUTE cannot be VALUE given the selections (or that it can)."),
    "bom": ("cli.configurator:bom", "The bill of materials of a complete configuration."),
    "pricebooks": ("cli.pricing:pricebooks", "Check, load, list and activate price books."),
    "rates": ("cli.rates:rates", "Exchange rates: import the ECB's reference rates, list them, look one up."),
    "rulesets": ("cli.pricing:rulesets", "Check, load, list and activate rule sets."),
    "price": ("cli.pricing:price", "Price a quote draft: the waterfall of every line, totals and approvals needed."),
    "users": ("cli.users:users", "People who own, approve and manage quotes, and their API tokens."),
    "keys": ("cli.users:keys", "API keys: how an ERP or CRM calls the API, within scopes, as the user who owns the key."),
    "accounts": ("cli.accounts:accounts", "Customer accounts."),
    "terms": ("cli.accounts:terms", "Terms-and-conditions templates for quotes."),
    "bank": ("cli.banking:bank", "Bank statements: import them, match what named no invoice."),
    "usage": ("cli.usage:usage", "Metered usage: import records, show an account's usage, rate closed periods."),
    "mail": ("cli.mail:mail_", "The e-mail outbox: list messages, show one, send one again."),
    "jobs": ("cli.jobs:jobs", "Scheduled work; every job is safe to run any number of times."),
    "worker": ("cli.jobs:worker", "Run the task queue's worker: renders documents, delivers webhooks and e-mail, runs the jobs (any number on any number of machines with Redis; stops gracefully on SIGTERM)."),
    "scheduler": ("cli.jobs:scheduler", "Send the periodic jobs to the workers (Celery beat): run exactly one."),
    "export": ("cli.transfer:export", "Write models, price books, rule sets and accounts to FILE (.json, else YAML)."),
    "import": ("cli.transfer:import_", "Load a bundle written by `cpq export` (or the API): all of it, or nothing."),
}


class Cpq(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[name][0].partition(":")
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_where, summary) in sorted(COMMANDS.items())])

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            from core.validation import DocumentValidationError

            if isinstance(exc, DocumentValidationError):
                for error in exc.errors:
                    click.echo(str(error), err=True)
                ctx.exit(1)
            message = user_error(exc)
            if message is None:
                raise
            raise click.ClickException(message) from None


def user_error(exc: Exception) -> str | None:
    """What a user did wrong, or None for a bug (which keeps its traceback). The error
    classes are imported here, once one was raised, not when `cpq` starts."""
    from sqlalchemy.exc import SQLAlchemyError

    from cli.output import conflicts_text
    from configurator.encode import EncodingError
    from configurator.engine import IncompleteConfiguration, InvalidConfiguration
    from configurator.results import SelectionError
    from core.errors import DomainError

    if isinstance(exc, SelectionError):
        return f"{_as_typed(exc.field)}: {exc.reason}"
    if isinstance(exc, InvalidConfiguration):
        return "\n".join(conflicts_text(exc.conflicts, "the selections violate the product rules:"))
    if isinstance(exc, (DomainError, IncompleteConfiguration, EncodingError)):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        reason = getattr(exc, "orig", None) or exc
        return f"database error: {reason}\n(is the database migrated? run: cpq db upgrade)"
    return None


def _as_typed(field: str) -> str:
    """`selections.cpu` -> `--set cpu`, `minimize` -> `--minimize`: as the user typed it."""
    prefix = "selections."
    if field.startswith(prefix):
        return f"--set {field[len(prefix):]}"
    return "--minimize" if field == "minimize" else field


@click.group(cls=Cpq)
def cli():
    """Configure-price-quote: product models, configuration, bills of materials, pricing."""


def main() -> None:
    cli(prog_name="cpq")


if __name__ == "__main__":
    main()
