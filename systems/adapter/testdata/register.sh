#!/bin/sh
# A correct adapter of one register, in sh: answers ping, write, read.
# It prints its pid in every answer's error text, so tests see restarts.
value=null
while read -r line; do
  id=$(echo "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
  case "$line" in
    *'"f":"write"'*) value=$(echo "$line" | sed 's/.*"value":\("[^"]*"\).*/\1/'); echo "{\"id\":$id,\"type\":\"ok\",\"error\":\"$$\"}" ;;
    *'"f":"read"'*) echo "{\"id\":$id,\"type\":\"ok\",\"value\":$value,\"error\":\"$$\"}" ;;
    *'"f":"cas"'*) echo "{\"id\":$id,\"type\":\"fail\",\"error\":\"no cas here\"}" ;;
    *'"f":"add"'*) echo "{\"id\":$id,\"type\":\"info\",\"error\":\"maybe\"}" ;;
    *) echo "{\"id\":$id,\"type\":\"ok\",\"error\":\"$$\"}" ;;
  esac
done
