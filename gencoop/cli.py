"""The ``gencoop`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from rich.console import Console
from rich.table import Table

from gencoop import registry


def _format_params(spec: registry.ComponentSpec) -> str:
    parts = []
    for name, info in spec.params().items():
        parts.append(f"{name}" if info["required"] else f"{name}={json.dumps(info['default'])}")
    return ", ".join(parts)


def list_components(kind: str | None, as_json: bool) -> int:
    specs = registry.components(kind)
    errors = registry.plugin_errors()
    if as_json:
        rows = [
            {"kind": s.kind, "name": s.name, "summary": s.summary, "params": s.params(), "source": s.source,
             "version": s.version}
            for s in specs
        ]
        print(json.dumps(rows, indent=2))
        for e in errors:
            print(f"broken plugin {e.plugin!r} ({e.source} {e.version}): {e.error}", file=sys.stderr)
        return 0
    console = Console()
    for k in registry.KINDS:
        group = [s for s in specs if s.kind == k]
        if not group:
            continue
        table = Table(title=f"{k} ({len(group)})", title_justify="left", show_lines=False, expand=False)
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("summary")
        table.add_column("parameters (defaults)", style="dim")
        table.add_column("source", no_wrap=True)
        for s in group:
            table.add_row(s.name, s.summary, _format_params(s), f"{s.source} {s.version}".strip())
        console.print(table)
    if errors:
        table = Table(title="broken plugins (skipped)", title_justify="left", style="red")
        table.add_column("plugin")
        table.add_column("source")
        table.add_column("error")
        for e in errors:
            table.add_row(e.plugin, f"{e.source} {e.version}".strip(), e.error)
        console.print(table)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gencoop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list-components", help="list registered parts (built-in and plugins)")
    p.add_argument("--kind", choices=registry.KINDS, help="only this kind")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of tables")

    p = sub.add_parser("demo", help="fit a flow to a 2-D toy and write samples.png and metrics.json")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--data", default="8gaussians", help="toy data set (default: 8gaussians)")
    p.add_argument("--flow", default="nsf", help="registered flow name (default: nsf)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)

    args = parser.parse_args(argv)
    if args.command == "list-components":
        return list_components(args.kind, args.json)
    if args.command == "demo":
        from gencoop.config import ConfigError
        from gencoop.demo import run_demo

        try:
            metrics = run_demo(args.out, data=args.data, flow=args.flow, steps=args.steps, seed=args.seed)
        except (ConfigError, KeyError, ValueError) as exc:
            print(f"gencoop demo: {exc}", file=sys.stderr)
            return 2
        print(f"held-out NLL {metrics['test_nll']:.3f} nats; wrote {args.out}/samples.png and {args.out}/metrics.json")
        return 0
    return 2  # unreachable: argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
