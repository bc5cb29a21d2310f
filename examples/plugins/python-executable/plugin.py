#!/usr/bin/env python3
"""Example: an executable plugin in Python (no Wasm, no SDK): the JSON-lines protocol of
packages/plugins/PROTOCOL.md, section 5, with the standard library only.

Functions:
  slug(text)         -> "hello-world" from "Hello, World!"
  describe()         -> the call site's entity name and a property, read with get-entity
"""
import json
import re
import sys

_seq = 0


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def host(call_id, function, args):
    """Calls a host function and waits for its answer, answering nested calls meanwhile."""
    global _seq
    _seq += 1
    seq = _seq
    send({"type": "host", "id": call_id, "seq": seq, "function": function, "args": args})
    for line in sys.stdin:
        message = json.loads(line)
        if message["type"] == "host-result" and message["id"] == call_id and message["seq"] == seq:
            if "error" in message:
                raise RuntimeError(message["error"]["message"])
            return message["value"]
        if message["type"] == "call":
            run(message["id"], message["call"])
    sys.exit(0)


def slug(call, _call_id):
    text = call["arguments"][0]
    if not isinstance(text, str):
        raise ValueError("slug needs a string")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def describe(call, call_id):
    entity = host(call_id, "get-entity", {"id": call["site"]["entity"]})
    if entity is None:
        raise LookupError("no such entity")
    return {"name": entity["id"]["name"], "path": call["site"].get("path")}


FUNCTIONS = {"slug": slug, "describe": describe}


def run(call_id, call):
    fn = FUNCTIONS.get(call["function"])
    if fn is None:
        send({"type": "error", "id": call_id, "error": {"code": "NOT_FOUND", "message": "no function " + call["function"]}})
        return
    try:
        send({"type": "result", "id": call_id, "value": fn(call, call_id)})
    except Exception as error:  # the plugin's error, reported to the host as FAILED
        send({"type": "error", "id": call_id, "error": {"message": str(error)}})


for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "call":
        run(message["id"], message["call"])
