#!/bin/sh
# Answers ping, then misbehaves on the first real request as $1 says:
# garbage, exit, hang, wrong-id, bad-shape. Its stderr says hello.
echo "hello from $$" >&2
while read -r line; do
  id=$(echo "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
  case "$line" in
    *'"f":"ping"'*) echo "{\"id\":$id,\"type\":\"ok\"}"; continue ;;
  esac
  case "$1" in
    garbage) echo "<<<not json>>>" ;;
    exit) exit 3 ;;
    hang) sleep 60 ;;
    wrong-id) echo "{\"id\":9999,\"type\":\"ok\",\"value\":\"x\"}" ;;
    bad-shape) echo "{\"id\":$id,\"type\":\"ok\",\"value\":{\"not\":\"a string\"}}" ;;
  esac
done
