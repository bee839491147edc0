"""Command groups with a default: ``sutazai runs [AGENT]`` lists runs and ``sutazai runs export``
exports them; ``sutazai smoke [AGENTS]`` runs cases and ``sutazai smoke add`` adds one. Each
subcommand has its own ``--help``; a first word that is no subcommand goes to the default (an agent
named like a subcommand is reached as ``sutazai smoke run NAME``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup


class DefaultCommandGroup(TyperGroup):
    default_command: ClassVar[str]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def defaulting_to(command: str) -> type[DefaultCommandGroup]:
    return type(f"DefaultTo{command.title()}", (DefaultCommandGroup,), {"default_command": command})


def group_with_default(
    help: str, default: tuple[str, Callable[..., Any]], *others: tuple[str, Callable[..., Any]]
) -> typer.Typer:
    """A command group whose bare form runs ``default``; help text printed as written."""
    group = typer.Typer(rich_markup_mode=None, cls=defaulting_to(default[0]), help=help)
    for name, command in (default, *others):
        group.command(name)(command)
    return group
