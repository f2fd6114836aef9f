"""Streaming scenarios for scripts/bench.sh (stdlib only).

  upstream PORT CHUNKS INTERVAL_MS   serve SSE completions: CHUNKS events INTERVAL_MS apart, then [DONE]
  client URL STREAMS KEY MODEL       open STREAMS concurrent streams; print JSON with TTFB and chunk counts
"""
import asyncio
import json
import statistics
import sys
import time

def body(model):
    return json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "stream please"}]}).encode()


async def serve(port, chunks, interval):
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                close = False
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                    if line.lower().replace(b" ", b"") == b"connection:close":
                        close = True
                if length:
                    await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
                for index in range(chunks):
                    event = b'data: {"choices":[{"index":0,"delta":{"content":"tok%d "}}]}\n\n' % index
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    await writer.drain()
                    await asyncio.sleep(interval)
                done = b"data: [DONE]\n\n"
                writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=16384)
    async with server:
        await server.serve_forever()


async def one_stream(host, port, path, key, payload):
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Authorization: Bearer {key}\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode() + payload
    writer.write(request)
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    first = None
    data = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - start
        data += chunk
        if data.endswith(b"0\r\n\r\n"):
            break
    writer.close()
    return first, data.count(b"data: ") - 1, b"[DONE]" in data


async def client(url, streams, key, model):
    rest = url.split("://", 1)[1]
    hostport, path = rest.split("/", 1)
    host, port = hostport.split(":")
    started = time.perf_counter()
    results = await asyncio.gather(*(one_stream(host, int(port), "/" + path, key, body(model)) for _ in range(streams)), return_exceptions=True)
    ok = [r for r in results if not isinstance(r, Exception) and r[2]]
    kinds = {}
    for r in results:
        if isinstance(r, Exception):
            kind = type(r).__name__
        elif not r[2]:
            kind = "no [DONE]"
        else:
            continue
        kinds[kind] = kinds.get(kind, 0) + 1
    ttfb = sorted(r[0] for r in ok if r[0] is not None)
    print(json.dumps({
        "streams": streams, "completed": len(ok), "errors": len(results) - len(ok),
        "chunks_min": min((r[1] for r in ok), default=0), "chunks_max": max((r[1] for r in ok), default=0),
        "ttfb_p50_ms": round(statistics.median(ttfb) * 1000, 3) if ttfb else None,
        "ttfb_p99_ms": round(ttfb[int(len(ttfb) * 0.99) - 1] * 1000, 3) if ttfb else None,
        "seconds": round(time.perf_counter() - started, 2), "error_kinds": kinds,
    }))


if __name__ == "__main__":
    if sys.argv[1] == "upstream":
        asyncio.run(serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) / 1000))
    else:
        asyncio.run(client(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
