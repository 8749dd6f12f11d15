"""``mmts serve``: the control room's server (sessions, the API, the dashboard) on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from mmts.core.errors import MmtsError

LOCAL = ("127.0.0.1", "localhost", "::1")


def add_commands(commands: Any) -> None:
    """Register ``mmts serve``."""
    serve = commands.add_parser(
        "serve",
        help="run paper sessions server-side with a web dashboard and a JSON API",
        description="Supervise trading sessions (each its own `mmts live` process, paper by "
        "default) and serve the dashboard and the JSON API under /api/ (every call needs the "
        "token as `Authorization: Bearer TOKEN`). Sessions keep trading when the server or the "
        "page goes away; a restarted server re-attaches to them.",
    )
    serve.add_argument(
        "--root", default="serve", help="state and session folders (default: serve/)"
    )
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; any other needs --token-file)")  # fmt: skip
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free)")
    serve.add_argument("--token-file",
                       help="where the token is kept, mode 0600 (default: <root>/token)")  # fmt: skip
    serve.add_argument("--live", action="store_true",
                       help="allow real-money sessions from the API (asks for confirmation)")  # fmt: skip
    serve.add_argument("--yes", action="store_true", help="skip the --live confirmation prompt")
    serve.add_argument("--verbose", action="store_true", help="log at INFO level")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from mmts.serve.app import Server, make_app
    from mmts.serve.auth import load_or_create_token

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)  # fmt: skip
    if args.host not in LOCAL and not args.token_file:
        raise MmtsError(f"--host {args.host} serves beyond this machine: give --token-file too "
                        "(a token you keep; every request must carry it)")  # fmt: skip
    if args.live and not args.yes:
        answer = input("Allow REAL MONEY sessions to be started from the API? Type 'yes': ")
        if answer.strip().lower() != "yes":
            print("not confirmed; not serving", file=sys.stderr)
            return 1
    root = Path(args.root)
    token_path = Path(args.token_file) if args.token_file else root / "token"
    token, new = load_or_create_token(token_path)
    server = Server(root, token, live_allowed=args.live)
    for line in server.sessions.resume():
        print(line, file=sys.stderr)

    async def main() -> None:
        runner = web.AppRunner(make_app(server), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else args.port
        print(f"mmts serve: http://{args.host}:{port}/ (root {root})", flush=True)
        if new:
            print(f"token (shown once; kept in {token_path}): {token}", flush=True)
        else:
            print(f"token: in {token_path}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("mmts serve: stopped (sessions keep running; a new `mmts serve` re-attaches)",
              file=sys.stderr)  # fmt: skip
    return 0
