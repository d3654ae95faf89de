"""`flask` commands: workspaces, tokens, the outbox, the spec."""
import json
import time
from pathlib import Path

import click
import marshmallow as ma
from flask import current_app

from config import BASE_DIR
from errors import DomainError
from extensions import api
from schemas.asyncapi import build_asyncapi
from schemas.common import SafeEmail
from services.auth import do_purge_expired
from services.demo import do_ensure_demo
from services.mailer import do_send_due, run_sender_loop
from services.retention import prune_once
from services.sweeper import sweep_once
from services.workspaces import do_admin_link, do_create_workspace, first_workspace


def register_cli(app):
    app.cli.add_command(requests_cli)
    app.cli.add_command(workspace_cli)
    app.cli.add_command(auth_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(retention_cli)
    app.cli.add_command(spec_cli)


@click.group("workspace", help="Manage workspaces.")
def workspace_cli():
    pass


def _one_line(ctx, param, value):
    """A name that can go into a mail header: one line, not blank, at most 120 characters."""
    if value is None:
        return value
    if any(ch in value for ch in "\r\n\0") or not value.strip() or len(value) > 120:
        raise click.BadParameter("one line of 1 to 120 characters")
    return value


def _email(ctx, param, value):
    try:
        return SafeEmail().deserialize(value)
    except ma.ValidationError as error:
        raise click.BadParameter("not a valid e-mail address") from error


@workspace_cli.command("create")
@click.option("--name", required=True, callback=_one_line, help="Workspace name")
@click.option("--admin-email", required=True, callback=_email, help="E-mail of the first admin")
@click.option("--admin-name", default="Admin", show_default=True, callback=_one_line, help="Name of the first admin")
def workspace_create(name, admin_email, admin_name):
    """Create a workspace and its first admin; print a one-time set-password link."""
    try:
        workspace, admin, link = do_create_workspace(name, admin_email, admin_name)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"Workspace {workspace.id} '{workspace.name}' created with admin {admin.email}.")
    click.echo(f"Set the admin password (one use only): {link}")


@workspace_cli.command("ensure-default")
@click.option("--admin-email", default="admin@example.com", show_default=True, callback=_email)
def workspace_ensure_default(admin_email):
    """Create a first workspace and admin when the database has none."""
    if first_workspace() is not None:
        click.echo("A workspace exists already; log in with your admin account.")
        click.echo("No password yet, or lost it? `make admin-link [EMAIL=...]` (or `flask workspace admin-link"
                   " [--email ...]`) prints a new set-password link.")
        return
    _, admin, link = do_create_workspace("My workspace", admin_email, "Admin")
    click.echo(f"Created the first workspace with admin {admin.email}.")
    click.echo(f"Set the admin password (one use only): {link}")


@workspace_cli.command("ensure-demo")
def workspace_ensure_demo():
    """Set up the first workspace's demo site (once) and print where the console and the demo page are."""
    workspace = first_workspace()
    if workspace is None:
        raise click.ClickException("No workspace yet: run `flask workspace ensure-default` first.")
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    try:
        interface = do_ensure_demo(workspace.id, base)
    except LookupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Console:   {base}/console  (log in as an admin; you serve the demo site's chats)")
    click.echo(f"Demo site: {base}/demo/{interface.public_key}  (a visitor's page with the widget; open it in another tab)")


@workspace_cli.command("admin-link")
@click.option("--email", default=None, callback=lambda ctx, param, value: value and _email(ctx, param, value),
              help="The admin's e-mail (default: the first admin of the first workspace)")
def workspace_admin_link(email):
    """Print a fresh single-use set-password link for an admin; their older links stop working."""
    try:
        admin, link, expires_at = do_admin_link(email)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"Set the password of {admin.email} (one use only, until {expires_at:%Y-%m-%d %H:%M} UTC): {link}")


@click.group("auth", help="Tokens and password links.")
def auth_cli():
    pass


@auth_cli.command("purge")
def auth_purge():
    """Forget revocations of expired tokens and password links that can no longer be used."""
    revoked, links = do_purge_expired()
    click.echo(f"purged {revoked} revoked tokens, {links} password links")


@click.group("outbox", help="The mail outbox.")
def outbox_cli():
    pass


@outbox_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep sending until interrupted")
def outbox_send(loop):
    """Send due e-mails from the outbox (once, or in a loop)."""
    if loop:
        run_sender_loop(current_app._get_current_object())
        return
    sent, failed = do_send_due()
    click.echo(f"sent {sent}, failed {failed}")


@click.group("retention", help="Old rows of the growing tables.")
def retention_cli():
    pass


@retention_cli.command("prune")
def retention_prune():
    """Delete rows past their RETENTION_*_DAYS once (what the retention thread does every RETENTION_INTERVAL_S)."""
    done = prune_once()
    click.echo(", ".join(f"{name} {count}" for name, count in done.items()))


@click.group("requests", help="Live requests.")
def requests_cli():
    pass


@requests_cli.command("sweep")
@click.option("--loop", is_flag=True, help="Keep sweeping every SWEEP_INTERVAL_S until interrupted")
def requests_sweep(loop):
    """Expire overdue requests, set absent agents offline, end abandoned calls, act on absent visitors (the sweeper thread)."""
    while True:
        done = sweep_once()
        if not loop:
            click.echo(", ".join(f"{name} {count}" for name, count in done.items()))
            return
        time.sleep(current_app.config["SWEEP_INTERVAL_S"])


@click.group("spec", help="The committed API documents.")
def spec_cli():
    pass


def spec_documents():
    """The generated documents, keyed by their committed path."""
    config = current_app.config
    return {
        "openapi/openapi.json": api.spec.to_dict(),
        "openapi/asyncapi.json": build_asyncapi(config["API_TITLE"], config["API_VERSION"]),
    }


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
