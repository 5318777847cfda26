"""``python -m pytest_convcode.sandbox serve``: the sandbox service (``service.py``) on a port.

Bound anywhere but loopback it runs other machines' code, so it needs a bearer token there
(``--token-file``). It prints the address it serves at, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from ..errors import UsageError
from .interface import MiB
from .run_item import routes as item_routes
from .service import Service, Settings

DEFAULT_PORT = 7778


def parser() -> argparse.ArgumentParser:
    cores = os.cpu_count() or 1
    p = argparse.ArgumentParser(prog="python -m pytest_convcode.sandbox serve", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0: any free one)")
    p.add_argument("--token-file", type=Path, help="a file holding the bearer token clients must send")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs candidates (default: this one)")
    p.add_argument("--jobs", type=int, default=cores, help=f"jobs run at once (default: the cores, {cores})")
    p.add_argument("--client-jobs", type=int, default=0, help="jobs run at once per client (default: --jobs)")
    p.add_argument("--max-request-mib", type=int, default=256, help="largest batch accepted, MiB (default: 256)")
    p.add_argument("--repo", metavar="SPEC", help="answer the seed's POST /run_item on this repository's environment")
    return p


def settings(args: argparse.Namespace) -> Settings:
    token = ""
    if args.token_file is not None:
        try:
            token = args.token_file.read_text().strip()
        except OSError as exc:
            raise UsageError(f"--token-file: cannot read {args.token_file}: {exc.strerror}") from None
        if not token:
            raise UsageError(f"--token-file: {args.token_file} is empty")
    elif not _loopback(args.host):
        raise UsageError(
            f"--host {args.host}: anyone who reaches it could run code here; "
            "give the service a token that clients must send: --token-file FILE"
        )
    if args.jobs < 1 or args.client_jobs < 0 or args.max_request_mib < 1:
        raise UsageError("--jobs and --max-request-mib must be at least 1, --client-jobs at least 0")
    return Settings(args.python, args.jobs, args.client_jobs, args.max_request_mib * MiB, token)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        service = Service(settings(args))
        routes = item_routes(service, args.repo) if args.repo else []
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve(service.app(routes), args.host, args.port))
    return 0


async def _serve(app: web.Application, host: str, port: int) -> None:
    stop = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(number, stop.set)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        for address in runner.addresses:  # (host, port), and more for IPv6
            print(f"serving the sandbox at http://{_url_host(address[0])}:{address[1]}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
