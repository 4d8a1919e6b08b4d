"""`voicegrid cluster up`: try many nodes on one machine."""

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

cluster_app = typer.Typer(no_args_is_help=True, help="Many nodes behind Kamailio, on this machine.")


@cluster_app.command("up")
def up(
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=16, help="how many voicegrid nodes")] = 3,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="nodes' data and cluster.json")] = Path(
        "./var/cluster"
    ),
    edge_port: Annotated[int | None, typer.Option("--edge-port", help="the edge's SIP port")] = None,
) -> None:
    """Start Kamailio, Redis, PostgreSQL and N nodes as real processes on free loopback ports, seed
    the demo, write <data dir>/cluster.json, and stop everything on Ctrl-C or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    typer.echo(f"starting PostgreSQL, Redis, {nodes} node(s) and Kamailio ...", err=True)
    from voicegrid.cluster.up import start_cluster  # its test servers and clients, only when run

    cluster = start_cluster(nodes, data_dir.resolve())
    try:
        manifest = cluster.manifest()
        typer.echo(f"\n  edge (Kamailio): {manifest['edge']['sip_uri']}", err=True)
        for node in manifest["nodes"]:
            typer.echo(f"  {node['name']}: {node['http_url']}  sip {node['sip_address']}", err=True)
        typer.echo(f"  demo number: {manifest['demo'].get('sip_uri')}", err=True)
        typer.echo(f"  credentials: {cluster.manifest_path}\n  Ctrl-C stops everything.", err=True)
        while not stop.wait(1.0):
            for node in cluster.nodes:
                if not node.alive():
                    typer.echo(f"node {node.name} exited:\n{node.tail(800)}", err=True)
                    stop.set()
    finally:
        typer.echo("stopping the edge, the nodes (they drain), Redis and PostgreSQL ...", err=True)
        cluster.stop()
