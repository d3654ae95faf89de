"""`flask` commands: workspaces, the outbox, the spec."""
import json
from pathlib import Path

import click
from flask import current_app

from config import BASE_DIR


def register_cli(app):
    app.cli.add_command(workspace_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(spec_cli)


@click.group("workspace", help="Manage workspaces.")
def workspace_cli():
    pass


@workspace_cli.command("create")
@click.option("--name", required=True, help="Workspace name")
@click.option("--admin-email", required=True, help="E-mail of the first admin")
@click.option("--admin-name", default="Admin", show_default=True, help="Name of the first admin")
def workspace_create(name, admin_email, admin_name):
    """Create a workspace and its first admin; print a one-time set-password link."""
    from errors import DomainError
    from services.workspaces import do_create_workspace

    try:
        workspace, admin, link = do_create_workspace(name, admin_email, admin_name)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"Workspace {workspace.id} '{workspace.name}' created with admin {admin.email}.")
    click.echo(f"Set the admin password (one use only): {link}")


@workspace_cli.command("ensure-default")
@click.option("--admin-email", default="admin@example.com", show_default=True)
def workspace_ensure_default(admin_email):
    """Create a first workspace and admin when the database has none."""
    from services.workspaces import do_create_workspace, first_workspace

    if first_workspace() is not None:
        click.echo("A workspace exists already; log in with your admin account.")
        return
    _, admin, link = do_create_workspace("My workspace", admin_email, "Admin")
    click.echo(f"Created the first workspace with admin {admin.email}.")
    click.echo(f"Set the admin password (one use only): {link}")


@click.group("outbox", help="The mail outbox.")
def outbox_cli():
    pass


@outbox_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep sending until interrupted")
def outbox_send(loop):
    """Send due e-mails from the outbox (once, or in a loop)."""
    from services.mailer import run_sender_loop, send_due

    if loop:
        run_sender_loop(current_app._get_current_object())
        return
    sent, failed = send_due()
    click.echo(f"sent {sent}, failed {failed}")


@click.group("spec", help="The committed API documents.")
def spec_cli():
    pass


def spec_documents():
    """The generated documents, keyed by their committed path."""
    from extensions import api

    return {"openapi/openapi.json": api.spec.to_dict()}


def dump_document(document):
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@spec_cli.command("write")
def spec_write():
    """Write openapi/ from the code."""
    for rel, document in spec_documents().items():
        path = Path(BASE_DIR) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_document(document))
        click.echo(f"wrote {rel}")
