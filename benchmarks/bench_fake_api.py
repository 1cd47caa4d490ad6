"""How fast the Random User API stand-in serves users (results=5000) over real HTTP.

Prints three figures:
- generate: users/s of ``make_page`` alone, in this process (the ceiling);
- http, bytes: users/s a client receives from a stand-in running in another process;
- http, parsed: the same, including the client parsing each body with orjson.

Run: ``.venv/bin/python benchmarks/bench_fake_api.py [--pages N] [--json]``. Absolute numbers
drift on shared machines; compare figures from the same run. With --json the last line of
stdout is ``{"generate_users_per_s", "http_bytes_users_per_s", "http_parsed_users_per_s"}``.
"""

from __future__ import annotations

import multiprocessing as mp
import time

import httpx
import orjson
from _report import arg_parser, emit_json

from userstream.source.standin.data import make_page
from userstream.source.standin.server import FakeApiServer

RESULTS = 5000


def _serve(ports: mp.Queue) -> None:
    server = FakeApiServer("127.0.0.1", 0)
    server.bind()
    ports.put(server.port)
    server.serve_forever()


def main() -> None:
    parser = arg_parser(__doc__ or "")
    parser.add_argument("--pages", type=int, default=10, help="pages of 5000 users per figure")
    args = parser.parse_args()
    pages = args.pages

    started = time.perf_counter()
    for page in range(1, pages + 1):
        make_page("bench-gen", page, RESULTS)
    gen_rate = pages * RESULTS / (time.perf_counter() - started)
    figures = {"generate_users_per_s": round(gen_rate)}
    print(f"generate      {gen_rate:10,.0f} users/s  ({pages} pages of {RESULTS}, in-process)")

    ctx = mp.get_context("spawn")
    ports: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(ports,), daemon=True)
    proc.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=60)}/api/1.4/"
        with httpx.Client(timeout=60) as client:
            client.get(url, params={"results": 1}).raise_for_status()  # warm up
            for label, parse in (("http, bytes ", False), ("http, parsed", True)):
                key = "http_parsed_users_per_s" if parse else "http_bytes_users_per_s"
                users = size = 0
                started = time.perf_counter()
                for page in range(1, pages + 1):
                    params: dict[str, str | int] = {
                        "results": RESULTS,
                        "page": page,
                        "seed": f"bench-{label}",
                    }
                    response = client.get(url, params=params)
                    response.raise_for_status()
                    size += len(response.content)
                    users += len(orjson.loads(response.content)["results"]) if parse else RESULTS
                elapsed = time.perf_counter() - started
                figures[key] = round(users / elapsed)
                print(
                    f"{label}  {users / elapsed:10,.0f} users/s  "
                    f"({size / elapsed / 1e6:.1f} MB/s, {size / users:.0f} bytes/user)"
                )
    finally:
        proc.terminate()
        proc.join(10)
    emit_json(args.json, figures)


if __name__ == "__main__":
    main()
