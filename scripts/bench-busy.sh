# Sourced by scripts/bench: the busy node. Both plugins through libcni (cnitool), each with masquerade
# and one hostPort per pod (the reference as libcni chains it: bridge + host-local, then portmap).
#   1. BUSY_ROUNDS ADDs then DELs on the empty node, A B A B;
#   2. fill to FILL pods each (not timed);
#   3. BUSY_ROUNDS ADDs then DELs on the busy node: growth factor and ratio;
#   4. BURST concurrent ADDs, then BURST concurrent DELs, on the busy node: wall time, failures, duplicates;
#   5. the data path with FILL pods present: new TCP connections per second (wrk, Connection: close)
#      to a pod's hostPort from outside the node, and from a pod through masquerade to a host outside.

busy_conflists() {
  rm -rf "$work/net.d-w" "$work/net.d-r"; mkdir -p "$work/net.d-w" "$work/net.d-r"
  printf '{"name":"cbr0","cniVersion":"1.0.0","plugins":[%s]}' \
    "$(weft_conf true "$work/busy-w" | sed 's/}}$/},"capabilities":{"portMappings":true}}/')" > "$work/net.d-w/10.conflist"
  printf '{"name":"refnet","cniVersion":"1.0.0","plugins":[%s,{"type":"portmap","capabilities":{"portMappings":true}}]}' \
    "$(bridge_conf true "$work/busy-r")" > "$work/net.d-r/10.conflist"
}

busy_chain() { # busy_chain VERB COUNT FIRST > times
  nsenter --net="/var/run/netns/$node" bash "$work/chain.sh" "$cnitool" "$reference" "$work" "$prefix" "$2" "$1" \
    '{"portMappings":[{"hostPort":PORT,"containerPort":80,"protocol":"tcp"}]}' "$3"
}

# BURST cnitool processes at once for one kind; prints the wall time in ms, then each pod's address.
busy_burst() { # busy_burst KIND VERB FIRST
  local net=cbr0 base=20000 start end; [ "$1" = r ] && net=refnet base=40000
  start=${EPOCHREALTIME/./}
  for i in $(seq "$3" $(( $3 + burst - 1 ))); do
    nsenter --net="/var/run/netns/$node" env NETCONFPATH="$work/net.d-$1" CNI_PATH="$work/plugins:$reference" \
      CNI_CACHEDIR="$work/cache" CNI_CONTAINERID="hp-$1$i" \
      CAP_ARGS="{\"portMappings\":[{\"hostPort\":$(( base + i )),\"containerPort\":80,\"protocol\":\"tcp\"}]}" \
      "$cnitool" "$2" "$net" "/var/run/netns/$prefix-$1$i" > "$work/burst-$1-$i.out" 2>&1 &
  done
  local failed=0
  for job in $(jobs -p); do wait "$job" || failed=$((failed + 1)); done
  end=${EPOCHREALTIME/./}
  echo "$(( (end - start) / 1000 )) $failed"
}

busy_addresses() { # distinct / total addresses in the burst's results
  cat "$work"/burst-"$1"-*.out | grep -o '"address": *"[^"]*"' | sort | awk '{n++; if (!seen[$0]++) d++} END {printf "%d/%d", d, n}'
}

# New TCP connections per second: wrk with Connection: close against a small HTTP responder.
busy_rate() { # busy_rate CLIENT_NS URL: requests (= connections) per second, 0 when wrk got none through
  local result
  result=$(ip netns exec "$1" wrk -t2 -c32 -d4s -H 'Connection: close' "$2" 2>&1 || true)
  echo "$result" | awk '/Requests\/sec/ {printf "%d", $2; found = 1} END {if (!found) printf "0"}'
  echo "$result" | grep -q 'Socket errors' && echo "$result" | grep 'Socket errors' >&2 || true
}

busy_server() { # busy_server NS PORT: started in the background in a session of its own, its ID in $server
  setsid ip netns exec "$1" python3 "$here/scripts/http-responder.py" "$2" > /dev/null 2>&1 &
  server=$!
  for _ in $(seq 50); do ip netns exec "$1" ss -tln | grep -q ":$2 " && return; sleep 0.1; done
}

busy_stop() { kill -- -"$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }

busy() {
  [ -x "$cnitool" ] || { echo; echo "(busy-node scenario skipped: no cnitool at $cnitool; make cnitool)"; return; }
  command -v wrk > /dev/null || { echo; echo "(busy-node scenario skipped: no wrk; make deps)"; return; }
  local fill=${FILL:-250} n=${BUSY_ROUNDS:-20}
  burst=${BURST:-100}
  new_node busy
  local total=$(( n + fill + n + burst ))
  pods w "$total"; pods r "$total"; pods out 1
  local out=$prefix-out1
  ip -n "$node" link add uplink0 type veth peer name downlink0 netns "$out"
  ip -n "$node" addr add 192.0.2.1/24 dev uplink0; ip -n "$node" link set uplink0 up
  ip -n "$out" addr add 192.0.2.2/24 dev downlink0; ip -n "$out" link set downlink0 up; ip -n "$out" link set lo up
  busy_conflists

  busy_chain add "$n" 1 > "$work/busy-empty-add.times"
  busy_chain del "$n" 1 > "$work/busy-empty-del.times"
  busy_chain add "$fill" $(( n + 1 )) > /dev/null
  busy_chain add "$n" $(( n + fill + 1 )) > "$work/busy-full-add.times"
  busy_chain del "$n" $(( n + fill + 1 )) > "$work/busy-full-del.times"

  echo
  echo "| busy node: ipMasq + 1 hostPort per pod, via cnitool, $n each (ms, median) | weft empty | weft with $fill pods | weft growth | reference empty | reference with $fill pods | reference growth | reference ÷ weft, busy |"
  echo "|---|---|---|---|---|---|---|---|"
  for verb in add del; do
    read -r _ we _ _ <<<"$(stats "$work/busy-empty-$verb.times" w)"; read -r _ wb _ _ <<<"$(stats "$work/busy-full-$verb.times" w)"
    read -r _ re _ _ <<<"$(stats "$work/busy-empty-$verb.times" r)"; read -r _ rb _ _ <<<"$(stats "$work/busy-full-$verb.times" r)"
    echo "| ${verb^^} | $we | $wb | $(awk -v a="$wb" -v b="$we" 'BEGIN { printf "%.2f", a / b }')× | $re | $rb | $(awk -v a="$rb" -v b="$re" 'BEGIN { printf "%.2f", a / b }')× | $(awk -v a="$rb" -v b="$wb" 'BEGIN { printf "%.1f", a / b }')× |"
  done

  local first=$(( n + fill + n + 1 ))
  echo
  echo "| $burst concurrent, with $fill pods present (wall ms) | weft | reference | reference ÷ weft |"
  echo "|---|---|---|---|"
  read -r wadd wfail <<<"$(busy_burst w add "$first")"; local waddr; waddr=$(busy_addresses w)
  read -r radd rfail <<<"$(busy_burst r add "$first")"; local raddr; raddr=$(busy_addresses r)
  read -r wdel wdfail <<<"$(busy_burst w del "$first")"
  read -r rdel rdfail <<<"$(busy_burst r del "$first")"
  echo "| ADD | $wadd | $radd | $(awk -v a="$radd" -v b="$wadd" 'BEGIN { printf "%.1f", a / b }')× |"
  echo "| DEL | $wdel | $rdel | $(awk -v a="$rdel" -v b="$wdel" 'BEGIN { printf "%.1f", a / b }')× |"
  echo "(failed ADD/DEL: weft $wfail/$wdfail, reference $rfail/$rdfail; distinct/total addresses: weft $waddr, reference $raddr)"

  # The data path: pod n+1 of each kind holds hostPort 20000+n+1 (weft) or 40000+n+1 (reference) → its port 80.
  local wport=$(( 20000 + n + 1 )) rport=$(( 40000 + n + 1 ))
  echo
  echo "| new TCP connections per second with $fill pods present | weft | reference | weft ÷ reference |"
  echo "|---|---|---|---|"
  local wrate rrate
  busy_server "$prefix-w$(( n + 1 ))" 80; wrate=$(busy_rate "$out" "http://192.0.2.1:$wport/"); busy_stop
  busy_server "$prefix-r$(( n + 1 ))" 80; rrate=$(busy_rate "$out" "http://192.0.2.1:$rport/"); busy_stop
  echo "| to a hostPort, from outside the node | $wrate | $rrate | $(awk -v a="$wrate" -v b="$rrate" 'BEGIN { printf "%.2f", a / b }')× |"
  busy_server "$out" 8080
  wrate=$(busy_rate "$prefix-w$(( n + 2 ))" "http://192.0.2.2:8080/")
  rrate=$(busy_rate "$prefix-r$(( n + 2 ))" "http://192.0.2.2:8080/")
  busy_stop
  echo "| from a pod through masquerade | $wrate | $rrate | $(awk -v a="$wrate" -v b="$rrate" 'BEGIN { printf "%.2f", a / b }')× |"

  busy_chain del "$fill" $(( n + 1 )) > /dev/null
  drop_pods w; drop_pods r; drop_pods out; ip netns delete "$node"
}
