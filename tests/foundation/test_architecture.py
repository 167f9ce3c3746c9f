"""The import graph has no cycles (import-linter's layers catch imports against the
README's direction; this catches a circle between modules of one layer too)."""

from __future__ import annotations

import grimp


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            groups.append(group)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def test_no_import_cycles():
    graph = grimp.build_graph(
        "tarotbot", "jobs", "botapi_emulator", exclude_type_checking_imports=True
    )
    cycles = [sorted(group) for group in strongly_connected(graph) if len(group) > 1]
    assert not cycles, f"modules that import each other: {cycles}"


def test_a_cycle_is_found():
    graph = grimp.ImportGraph()
    for importer, imported in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]:
        graph.add_import(importer=importer, imported=imported)

    groups = [group for group in strongly_connected(graph) if len(group) > 1]

    assert groups == [{"a", "b", "c"}]


def test_every_command_is_in_the_cli_map():
    """The CLI imports a command's module only when it runs: the map must name them all."""
    import importlib

    from tarotbot.cli import COMMAND_MODULES

    for module in set(COMMAND_MODULES.values()):
        names = {command.name for command in importlib.import_module(module).COMMANDS}
        assert names == {n for n, m in COMMAND_MODULES.items() if m == module}, module
