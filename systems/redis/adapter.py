#!/usr/bin/env python3
"""The lab's client adapter for Redis: JSON lines on stdin and stdout (see
docs/byo.md), Redis's RESP protocol on a TCP connection to one node.

Usage: adapter.py HOST PORT [--sentinel SENTINEL_PORT MASTER_NAME]

With --sentinel the adapter is a client of a Sentinel-managed group, as
Jepsen's 2013 clients were: before each command it asks the Sentinel on its
own node which node is the primary, and sends the command there. A client
bound to a node cut off with the old primary keeps writing to it; that is
the point of the scenario.

With --ready it answers nothing on stdin: it exits 0 once the node serves
(and, with --sentinel, once its Sentinel sees a primary and a quorum), 1
otherwise; the system file's ready.command. With --primary it prints the
address of the primary its node's Sentinel names, for the file's
leader.command.

Python's standard library only, so the lab's host needs nothing installed
beyond python3. What each answer means for the history:

- a connection that cannot be made: "fail" (nothing was sent);
- an error reply from Redis (-READONLY, -LOADING, -ERR ...): "fail" (Redis
  refused the command before running it);
- anything after the request was sent that is not an answer (a reset, a
  timeout): "info", the outcome is unknown.
"""
import json
import socket
import sys
import time

TIMEOUT = 5.0

# CAS as one script, so the compare and the set are atomic. ARGV[1] is "1"
# when the key must hold ARGV[2], "0" when it must hold no value.
CAS = """
local v = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if v then return 0 end
elseif v ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""


# The queue is two lists: lab:q:log holds every message published, in
# order (a message's position is its index plus one), and lab:q:pending the
# positions no consumer has taken yet. Each script runs atomically.
PUBLISH = """
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], n)
return n
"""
CONSUME = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local n = redis.call('LPOP', KEYS[2])
  if not n then break end
  table.insert(out, n)
  table.insert(out, redis.call('LINDEX', KEYS[1], tonumber(n) - 1))
end
return out
"""
QLOG, QPENDING = "lab:q:log", "lab:q:pending"


class Refused(Exception):
    """Redis answered with an error: the command did not run."""


class Unknown(Exception):
    """The request may or may not have run."""


class Conn:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.sock = None
        self.buf = b""

    def connect(self):
        s = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
        s.settimeout(TIMEOUT)
        self.sock, self.buf = s, b""

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Unknown("connection closed by the node")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Unknown("connection closed by the node")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise Refused(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.exact(n).decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise Unknown("not a RESP reply: %r" % line[:80])

    def call(self, *args):
        """Sends one command and reads its reply."""
        if self.sock is None:
            try:
                self.connect()
            except OSError as e:
                raise Refused("cannot connect to %s:%d: %s" % (self.host, self.port, e))
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        try:
            self.sock.sendall(out)
            return self.reply()
        except Refused:
            raise
        except (OSError, ValueError) as e:
            self.close()
            raise Unknown(str(e) or type(e).__name__)
        except Unknown:
            self.close()
            raise


class Direct:
    """Sends every command to one node."""

    def __init__(self, host, port):
        self.conn = Conn(host, port)

    def primary(self):
        return self.conn


class ViaSentinel:
    """Asks the node's own Sentinel for the primary before each command. A
    Sentinel that cannot be asked refuses the command: nothing was sent."""

    def __init__(self, host, port, name):
        self.sentinel = Conn(host, port)
        self.name = name
        self.conns = {}

    def primary(self):
        try:
            addr = self.sentinel.call("SENTINEL", "get-master-addr-by-name", self.name)
        except Unknown as e:
            raise Refused("sentinel did not answer: %s" % e)
        if not addr:
            raise Refused("sentinel knows no primary for %r" % self.name)
        key = (addr[0], int(addr[1]))
        if key not in self.conns:
            for c in self.conns.values():
                c.close()
            self.conns = {key: Conn(*key)}
        return self.conns[key]


def handle(target, req):
    f, key, value = req.get("f"), req.get("key"), req.get("value")
    if f == "ping":
        return None  # the lab asks once, when it starts the adapter
    conn = target.primary()
    if f == "read":
        return conn.call("GET", key)
    if f == "write":
        conn.call("SET", key, value)
        return None
    if f == "cas":
        frm = value.get("from")
        flag = "0" if frm is None else "1"
        return conn.call("EVAL", CAS, 1, key, flag, "" if frm is None else frm, value["to"]) == 1
    if f == "add":
        conn.call("SADD", key, value)
        return None
    if f == "read-set":
        return conn.call("SMEMBERS", key) or []
    if f == "publish":
        return conn.call("EVAL", PUBLISH, 2, QLOG, QPENDING, value)
    if f == "consume":
        # Polls until a message comes or the lab's wait is over.
        deadline = time.monotonic() + value.get("wait_ms", 0) / 1000.0
        while True:
            flat = conn.call("EVAL", CONSUME, 2, QLOG, QPENDING, value["max"]) or []
            if flat or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return [{"seq": int(flat[i]), "value": flat[i + 1]} for i in range(0, len(flat), 2)]
    if f == "read-from":
        start = value["from"] - 1
        got = conn.call("LRANGE", QLOG, start, start + value["max"] - 1) or []
        return [{"seq": start + 1 + i, "value": v} for i, v in enumerate(got)]
    if f == "last":
        return conn.call("LLEN", QLOG)
    raise Refused("this adapter does not serve %r" % f)


def ready(host, port, sentinel):
    """Exit status 0 when the node (and its Sentinel) serve."""
    try:
        if Conn(host, port).call("PING") != "PONG":
            return 1
        if sentinel:
            s = Conn(host, sentinel[0])
            if not s.call("SENTINEL", "get-master-addr-by-name", sentinel[1]):
                return 1
            s.call("SENTINEL", "ckquorum", sentinel[1])
    except (Refused, Unknown, OSError) as e:
        sys.stderr.write("not ready: %s\n" % e)
        return 1
    return 0


def main():
    args = sys.argv[1:]
    check, primary = "--ready" in args, "--primary" in args
    args = [a for a in args if a not in ("--ready", "--primary")]
    sentinel = None
    if "--sentinel" in args:
        i = args.index("--sentinel")
        sentinel = (int(args[i + 1]), args[i + 2])
        args = args[:i] + args[i + 3:]
    host, port = args[0], int(args[1])
    if check:
        sys.exit(ready(host, port, sentinel))
    if primary:
        try:
            c = ViaSentinel(host, sentinel[0], sentinel[1]).primary() if sentinel else Conn(host, port)
        except (Refused, Unknown, OSError) as e:
            sys.stderr.write("no primary: %s\n" % e)
            sys.exit(1)
        print("%s:%d" % (c.host, c.port))
        sys.exit(0)
    conn = ViaSentinel(host, sentinel[0], sentinel[1]) if sentinel else Direct(host, port)
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        rid = req.get("id")
        try:
            out = {"id": rid, "type": "ok", "value": handle(conn, req)}
        except Refused as e:
            out = {"id": rid, "type": "fail", "error": str(e)}
        except Unknown as e:
            out = {"id": rid, "type": "info", "error": str(e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
