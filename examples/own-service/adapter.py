#!/usr/bin/env python3
"""The adapter of the example service (server/main.go): JSON lines from the
lab on stdin, the service's line protocol on TCP, one reply per request on
stdout. See docs/byo.md for the protocol and what each reply type means."""
import json
import socket
import sys

HOST, PORT = sys.argv[1], int(sys.argv[2])
conn = None


class Fail(Exception):
    """The request was not applied."""


class Unknown(Exception):
    """The request may have been applied."""


def ask(line):
    global conn
    if conn is None:
        try:
            conn = socket.create_connection((HOST, PORT), timeout=5).makefile("rw")
        except OSError as e:
            raise Fail("cannot connect: %s" % e)  # nothing was sent
    try:
        conn.write(line + "\n")
        conn.flush()
        answer = conn.readline()
    except OSError as e:
        conn = None
        raise Unknown(str(e))
    if not answer:
        conn = None
        raise Unknown("the service closed the connection")
    if answer.startswith("ERR"):
        raise Unknown(answer.strip())  # it may have failed after logging
    return answer.split()


def handle(req):
    f, key, value = req["f"], req.get("key"), req.get("value")
    if f == "ping":
        return None  # the lab asks once, when it starts the adapter
    if f == "read":
        a = ask("GET " + key)
        return a[1] if a[0] == "VALUE" else None
    if f == "write":
        ask("SET %s %s" % (key, value))
        return None
    if f == "cas":
        frm = value["from"] if value["from"] is not None else "-"
        return ask("CAS %s %s %s" % (key, frm, value["to"]))[0] == "OK"
    if f == "add":
        ask("SADD %s %s" % (key, value))
        return None
    if f == "read-set":
        return ask("SMEMBERS " + key)[1:]
    raise Fail("not served: " + f)


for line in sys.stdin:
    req = json.loads(line)
    try:
        reply = {"id": req["id"], "type": "ok", "value": handle(req)}
    except Fail as e:
        reply = {"id": req["id"], "type": "fail", "error": str(e)}
    except Unknown as e:
        reply = {"id": req["id"], "type": "info", "error": str(e)}
    print(json.dumps(reply), flush=True)
