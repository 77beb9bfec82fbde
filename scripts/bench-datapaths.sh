# Sourced by scripts/bench: the routed and device datapaths beside the reference plugins that do the
# same job, in one run, A B A B: routed against ptp (+ host-local), device against host-device
# (+ host-local). DATAPATH_ROUNDS pods each (default ROUNDS for routed; at most 60 for device: a node
# has a few dozen ENIs or VFs, and each pod needs one). The device stand-ins are veths whose far ends
# wait in a namespace of their own (this kernel has no dummy driver).

# Like loop.sh, with the reference plugin named and "{i}" in a config path replaced by the round.
cat > "$work/dloop.sh" <<'LOOP'
set -eu
prefix=$1 rounds=$2 command=$3 wconf=$4 rconf=$5 weft=$6 ref=$7 out=$8
for i in $(seq 1 "$rounds"); do
  for kind in w r; do
    if [ $kind = w ]; then plugin=$weft; conf=${wconf//\{i\}/$i}; else plugin=$ref; conf=${rconf//\{i\}/$i}; fi
    start=${EPOCHREALTIME/./}
    CNI_COMMAND=$command CNI_CONTAINERID=bench-$kind$i CNI_NETNS=/var/run/netns/$prefix-$kind$i CNI_IFNAME=eth0 \
      CNI_PATH=${ref%/*} "$plugin" < "$conf" > "$out" || { cat "$out" >&2; exit 1; }
    end=${EPOCHREALTIME/./}
    echo "$kind $(( end - start ))"
  done
done
LOOP

datapath_run() { # datapath_run LABEL ROUNDS WCONF RCONF REFERENCE_PLUGIN
  for command in ADD DEL; do
    nsenter --net="/var/run/netns/$node" bash "$work/dloop.sh" "$prefix" "$2" "$command" "$3" "$4" "$weft" "$5" "$work/dout" \
      > "$work/dp-$command.times"
    row "$1 $command" "$work/dp-$command.times"
  done
}

datapaths() {
  local n=${DATAPATH_ROUNDS:-$rounds}
  header "$n pods, sequential, routed" "ptp + host-local"
  new_node routed; pods w "$n"; pods r "$n"
  printf '{"cniVersion":"1.0.0","name":"rt","type":"weft","datapath":"routed","subnet":"10.66.0.0/22","mtu":1500,"dataDir":"%s"}' \
    "$work/routed-w" > "$work/rt-w.json"
  printf '{"cniVersion":"1.0.0","name":"ptpnet","type":"ptp","mtu":1500,"ipam":{"type":"host-local","subnet":"10.67.0.0/22","dataDir":"%s","routes":[{"dst":"0.0.0.0/0"}]}}' \
    "$work/routed-r" > "$work/rt-r.json"
  datapath_run "routed vs ptp:" "$n" "$work/rt-w.json" "$work/rt-r.json" "$reference/ptp"
  drop_pods w; drop_pods r; ip netns delete "$node"

  local d=$(( n < 60 ? n : 60 )) pool="" i
  header "$d pods, sequential, device" "host-device + host-local"
  new_node device; pods w "$d"; pods r "$d"; ip netns add "$prefix-far"
  for i in $(seq 1 "$d"); do
    ip -n "$node" link add "wd$i" type veth peer name "pw$i" netns "$prefix-far"
    ip -n "$node" link add "rd$i" type veth peer name "pr$i" netns "$prefix-far"
    pool="$pool${pool:+,}\"wd$i\""
    printf '{"cniVersion":"1.0.0","name":"hd","type":"host-device","device":"rd%d","ipam":{"type":"host-local","subnet":"192.168.71.0/24","gateway":"192.168.71.1","dataDir":"%s","routes":[{"dst":"0.0.0.0/0"}]}}' \
      "$i" "$work/device-r" > "$work/dv-r-$i.json"
  done
  printf '{"cniVersion":"1.0.0","name":"eni","type":"weft","datapath":"device","devices":[%s],"isDefaultGateway":true,"dataDir":"%s","ipam":{"ranges":[[{"subnet":"192.168.70.0/24","gateway":"192.168.70.1"}]]}}' \
    "$pool" "$work/device-w" > "$work/dv-w.json"
  datapath_run "device vs host-device:" "$d" "$work/dv-w.json" "$work/dv-r-{i}.json" "$reference/host-device"
  drop_pods w; drop_pods r; ip netns delete "$prefix-far"; ip netns delete "$node"
}
