"""Run the fake provider server in the foreground: ``python -m tests.fakeprovider --port 8099``."""

from __future__ import annotations

import argparse
import threading

from tests.fakeprovider.server import FakeProviderServer
from tests.fakeprovider.vendors import load_vendors


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeprovider", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    args = parser.parse_args()
    server = FakeProviderServer(host=args.host, port=args.port)
    server.state.latency_s = args.latency
    server.start()
    print(f"fake provider server on {server.url}", flush=True)
    for vendor in load_vendors():
        print(f"  {vendor:<18} base_url {server.base_url(vendor)}", flush=True)
    print("control: POST /_fake/faults  POST /_fake/config  GET /_fake/requests  POST /_fake/reset")
    print("Ctrl-C stops it.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
