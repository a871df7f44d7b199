"""What a gzipped answer to POST /v1/statement would cost the filter, against
asking the coordinator for a plain one (issue 11, item 1). Starts one emulator
(Trino gzips QueryResults for clients that accept gzip, as the emulator does),
posts a statement with and without `Accept-Encoding: gzip`, and times inflating
the gzipped answer with zlib (native C: a lower bound for inflating in wasm).

    .venv/bin/python bench/compressed_answer.py
"""

import socket
import subprocess
import time
import timeit
import zlib
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
EMULATOR = REPO / "target" / "tools" / "trino-emulator"
SQL = "SELECT x, 'row ' || CAST(x AS varchar) AS label FROM UNNEST(sequence(1, 10)) AS t(x)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    port = free_port()
    process = subprocess.Popen([str(EMULATOR), "--listen", f"127.0.0.1:{port}", "--no-request-log"], stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v1/statement"
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/v1/info", timeout=0.5)
                break
            except requests.ConnectionError:
                time.sleep(0.05)

        def answer(encoding: str) -> bytes:
            headers = {"X-Trino-User": "alice", "Accept-Encoding": encoding}
            return requests.post(url, data=SQL, headers=headers, stream=True, timeout=5).raw.read(decode_content=False)

        plain, gzipped = answer("identity"), answer("gzip")
        assert gzipped[:2] == b"\x1f\x8b" and zlib.decompress(gzipped, 31)[:6] == plain[:6]
        n = 50_000
        seconds = timeit.timeit(lambda: zlib.decompress(gzipped, 31), number=n) / n
        print(f"answer to POST /v1/statement: {len(plain)} bytes plain, {len(gzipped)} bytes gzipped")
        print(f"inflating it (zlib, native): {seconds * 1e6:.2f} µs")
    finally:
        process.terminate()
        process.wait(5)


if __name__ == "__main__":
    main()
