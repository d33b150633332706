"""Loopback stand-ins for what the example functions talk to: pricing, an internal admin
service (the SSRF target), and AWS (a moto server). Everything binds 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PRICES = {"widget": 9.99, "gadget": 24.5, "gizmo": 3.25}


class _Pricing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        sku = parse_qs(urlparse(self.path).query).get("sku", ["?"])[0]
        body = json.dumps({"sku": sku, "price": PRICES.get(sku, 1.0)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Admin(_Pricing):
    def do_GET(self) -> None:
        body = b'{"AccessKeyId": "AKIAINTERNALONLY", "SecretAccessKey": "internal-secret"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# Fixed ports when free, so learned profiles (which name host:port) are stable from run to
# run and the committed ones in profiles/ match; any free port otherwise.
DEFAULT_PORTS = {"pricing": 18088, "admin": 18089, "moto": 18090}


def _free(port: int) -> int:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


def _serve(handler: type[BaseHTTPRequestHandler], port: int) -> ThreadingHTTPServer:
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextmanager
def loopback_services(
    bucket: str = "orders-receipts", table: str = "orders"
) -> Iterator[dict[str, int]]:
    """Start pricing, admin and a moto server on 127.0.0.1; create the bucket and the table."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log in the demo

    pricing = _serve(_Pricing, DEFAULT_PORTS["pricing"])
    admin = _serve(_Admin, DEFAULT_PORTS["admin"])
    moto = ThreadedMotoServer(
        ip_address="127.0.0.1", port=_free(DEFAULT_PORTS["moto"]), verbose=False
    )
    moto.start()
    moto_port = moto.get_host_and_port()[1]
    endpoint = f"http://127.0.0.1:{moto_port}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials)
    s3.create_bucket(Bucket=bucket)
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", **credentials
    )
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield {
            "pricing": pricing.server_address[1],
            "admin": admin.server_address[1],
            "moto": moto_port,
        }
    finally:
        pricing.shutdown()
        admin.shutdown()
        moto.stop()


def function_env(ports: dict[str, int]) -> dict[str, str]:
    """The environment the example functions get (as Lambda would give them)."""
    return {
        "AWS_ENDPOINT_URL": f"http://localhost:{ports['moto']}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PRICING_URL": f"http://localhost:{ports['pricing']}/price",
    }
