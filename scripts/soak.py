#!/usr/bin/env python3
"""Bounded soak of two gateways, A -> B, through provider outages.

B serves the mock provider; A has B as its `openai` provider for `mock-*`
and a provider that accepts connections and never answers for `slow`
(every request to it ends in A's 504). While wrk posts chat requests to A
and a second client opens streams (abandoning every other one after its
first bytes) and slow requests, the driver sends SIGHUP to both gateways,
kills B and restarts it at once, and sometimes leaves it down for a while.
It samples A's RSS and open file descriptors every second and counts the
answers by status.

Fails (exit 1) when A's RSS after the last outage is more than 5% above its
level after the warm-up (which already includes one outage and one reload,
so allocator start-up is not taken for a leak), when any answer other than
200, 502 or 504 appears, when A dies, or when A serves no 200 at the end.

Usage: scripts/soak.py BINARY [--minutes N] [--json FILE]   (scripts/soak.sh builds BINARY)
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

STATUS_ALLOWED = {200, 502, 504}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Blackhole(threading.Thread):
    """Accepts connections, reads what comes, never answers."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.held = []

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setblocking(False)
            self.held.append(conn)
            # Keep the list bounded: A closes its side at its timeout.
            alive = []
            for c in self.held:
                try:
                    if c.recv(65536, socket.MSG_DONTWAIT) == b"":
                        c.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    c.close()
                    continue
                alive.append(c)
            self.held = alive


class Gateway:
    def __init__(self, name, binary, config, port, workdir):
        self.name, self.binary, self.config, self.port = name, binary, config, port
        self.log = open(os.path.join(workdir, f"{name}.log"), "ab")
        self.process = None

    def start(self):
        env = dict(os.environ, LOG_LEVEL="error")
        self.process = subprocess.Popen([self.binary, "serve", "--config", self.config], env=env,
                                        stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited at start with {self.process.returncode}")
            time.sleep(0.05)
        raise SystemExit(f"{self.name} did not answer /health within 30 s")

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def hup(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_status = {}
        self.socket_errors = 0

    def add(self, status, n=1):
        with self.lock:
            self.by_status[status] = self.by_status.get(status, 0) + n


WRK_SCRIPT = r"""
wrk.method = "POST"
wrk.body = '{"model":"mock-soak","messages":[{"role":"user","content":"hello from the soak"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-soak-a"
counts = {}
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do io.write(string.format("status %d %d\n", k, v)) end
  end
  local e = summary.errors
  io.write(string.format("errors %d %d %d %d\n", e.connect, e.read, e.write, e.timeout))
end
"""


def wrk_loop(port, script, counts, stop, segment):
    while not stop.is_set():
        out = subprocess.run(["wrk", "-t1", "-c8", f"-d{segment}s", "--timeout", "5s", "-s", script,
                              f"http://127.0.0.1:{port}/v1/chat/completions"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if parts[:1] == ["status"]:
                counts.add(int(parts[1]), int(parts[2]))
            elif parts[:1] == ["errors"]:
                with counts.lock:
                    counts.socket_errors += sum(int(p) for p in parts[1:])


def stream_loop(port, counts, stop):
    """Streams, every other one abandoned after its first bytes, and slow requests."""
    n = 0
    while not stop.is_set():
        n += 1
        slow = n % 10 == 0
        body = json.dumps({"model": "slow" if slow else "mock-stream", "stream": not slow,
                           "messages": [{"role": "user", "content": "stream " * 20}]})
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST", "/v1/chat/completions", body=body,
                      headers={"Authorization": "Bearer sk-soak-a", "Content-Type": "application/json"})
            r = c.getresponse()
            counts.add(r.status)
            if n % 2 == 0 and not slow:
                r.read(16)  # abandon mid-stream
            else:
                r.read()
            c.close()
        except (OSError, http.client.HTTPException):
            with counts.lock:
                counts.socket_errors += 1
        time.sleep(0.01)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    total = args.minutes * 60
    warm = min(60.0, max(15.0, total * 0.15))
    tail = min(30.0, max(10.0, total * 0.1))

    work = tempfile.mkdtemp(prefix="llm-proxy-soak.")
    port_a, port_b = free_port(), free_port()
    hole = Blackhole()
    hole.start()
    config_b = os.path.join(work, "b.yaml")
    config_a = os.path.join(work, "a.yaml")
    with open(config_b, "w") as f:
        f.write(f"""server: {{host: 127.0.0.1, port: {port_b}, event_loops: 1}}
watch_config: false
providers:
  - name: mock
    type: mock
master_keys:
  - name: from-a
    key: sk-soak-b
""")
    with open(config_a, "w") as f:
        f.write(f"""server: {{host: 127.0.0.1, port: {port_a}, event_loops: 2, request_timeout_seconds: 1.5, connect_timeout_seconds: 1}}
watch_config: false
providers:
  - name: b
    type: openai
    api_base: http://127.0.0.1:{port_b}/v1
    api_key: sk-soak-b
    model_mapping: {{"mock-*": mock}}
  - name: blackhole
    type: openai
    api_base: http://127.0.0.1:{hole.port}/v1
    api_key: sk-hole
    model_mapping: {{slow: slow}}
master_keys:
  - name: soak
    key: sk-soak-a
health_check: {{enabled: true, interval_seconds: 1, timeout_seconds: 0.5}}
retry: {{max_attempts: 2}}
""")
    script = os.path.join(work, "soak.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT)

    a = Gateway("a", args.binary, config_a, port_a, work)
    b = Gateway("b", args.binary, config_b, port_b, work)
    b.start()
    a.start()
    counts = Counts()
    stop = threading.Event()
    workers = [threading.Thread(target=wrk_loop, args=(port_a, script, counts, stop, 5), daemon=True),
               threading.Thread(target=stream_loop, args=(port_a, counts, stop), daemon=True)]
    for w in workers:
        w.start()

    samples = []  # (seconds since start, phase, rss KB, fds)
    events = []
    started = time.time()

    def elapsed():
        return time.time() - started

    def sample(phase):
        if a.process.poll() is not None:
            raise SystemExit(f"FAIL: gateway A exited with {a.process.returncode} (see {work}/a.log)")
        samples.append((round(elapsed(), 1), phase, rss_kb(a.process.pid), fd_count(a.process.pid)))

    def wait(seconds, phase):
        end = time.time() + seconds
        while time.time() < end:
            sample(phase)
            time.sleep(min(1.0, max(0.0, end - time.time())))

    def bounce(down_seconds):
        events.append((round(elapsed(), 1), f"B killed, down {down_seconds} s"))
        b.kill()
        wait(down_seconds, "outage")
        b.start()
        events.append((round(elapsed(), 1), "B back"))

    def hup_both():
        events.append((round(elapsed(), 1), "SIGHUP A and B"))
        a.hup()
        b.hup()

    # Warm-up: load, one reload, one outage, then settle.
    wait(warm * 0.4, "warm-up")
    hup_both()
    bounce(1)
    wait(warm * 0.6, "warm-up")
    warm_samples = [s for s in samples if s[1] == "warm-up"][-5:]
    warm_rss = statistics.median(s[2] for s in warm_samples)
    warm_fds = statistics.median(s[3] for s in warm_samples)

    # Outages until the tail: each 25 s cycle reloads both, bounces B, and
    # every other cycle leaves B down for 8 s.
    cycle = 0
    while elapsed() + 25 + tail <= total:
        cycle += 1
        hup_both()
        wait(4, "cycles")
        bounce(1)
        wait(4, "cycles")
        a.hup()
        events.append((round(elapsed(), 1), "SIGHUP A"))
        if cycle % 2 == 0:
            bounce(8)
        else:
            wait(8, "cycles")
        wait(max(0.0, 25 - 17 - (9 if cycle % 2 == 0 else 0)), "cycles")
    if cycle == 0:
        bounce(2)
    ok_before_tail = counts.by_status.get(200, 0)
    wait(max(tail, total - elapsed()), "after the last outage")
    stop.set()
    for w in workers:
        w.join(timeout=15)
    ok_in_tail = counts.by_status.get(200, 0) - ok_before_tail
    final_samples = [s for s in samples if s[1] == "after the last outage"][-5:]
    final_rss = statistics.median(s[2] for s in final_samples)
    final_fds = statistics.median(s[3] for s in final_samples)
    peak_rss = max(s[2] for s in samples)
    a_alive = a.process.poll() is None
    a.kill()
    b.kill()

    unexpected = {k: v for k, v in counts.by_status.items() if k not in STATUS_ALLOWED}
    growth = (final_rss - warm_rss) / warm_rss * 100
    failures = []
    if growth > 5:
        failures.append(f"RSS grew {growth:.1f}% after warm-up (limit 5%)")
    if unexpected:
        failures.append(f"answers other than 200/502/504: {unexpected}")
    if not a_alive:
        failures.append("gateway A died")
    if ok_in_tail == 0:
        failures.append("no 200 after the last outage")

    print(f"soak: {args.minutes:g} min, {cycle} outage cycles, {len(events)} events, {len(samples)} samples")
    print(f"answers by status: {dict(sorted(counts.by_status.items()))}; client socket errors: {counts.socket_errors}")
    print(f"A RSS: {warm_rss / 1024:.1f} MB after warm-up -> {final_rss / 1024:.1f} MB after the last outage "
          f"({growth:+.1f}%), peak {peak_rss / 1024:.1f} MB")
    print(f"A open files: {warm_fds:.0f} after warm-up -> {final_fds:.0f} after the last outage")
    for phase in ("warm-up", "cycles", "outage", "after the last outage"):
        phase_samples = [s[2] for s in samples if s[1] == phase]
        if phase_samples:
            print(f"  {phase:22s} RSS min {min(phase_samples) / 1024:.1f} MB, max {max(phase_samples) / 1024:.1f} MB")
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"minutes": args.minutes, "cycles": cycle, "status": counts.by_status,
                       "socket_errors": counts.socket_errors, "warm_rss_kb": warm_rss, "final_rss_kb": final_rss,
                       "peak_rss_kb": peak_rss, "growth_percent": growth, "warm_fds": warm_fds,
                       "final_fds": final_fds, "events": events, "samples": samples, "failures": failures}, f)
    if failures:
        print("FAIL: " + "; ".join(failures) + f" (logs in {work})")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
