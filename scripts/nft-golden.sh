#!/bin/bash
# Records what nft sends for each Tests/WeftNftablesTests/Golden/NAME.nft (table.nft: hostPorts and policy;
# services.nft: the Services table's expressions), the goldens of GoldenEncoderTests (the way
# google/nftables' nftest records `nft --debug=netlink`):
#   NAME.netlink  nft's decoded messages (libnftnl's own printing: rules expression by expression);
#   NAME.mnl      every byte of the transaction (libmnl's mnl_nlmsg_fprintf), batch begin to batch end,
#                 without the terminal colours and without the cache requests nft sends before it.
# `nft -c` checks the table without committing it (the kernel aborts the batch); it still needs
# CAP_NET_ADMIN, so it runs as root in a network namespace of its own and the host's is never touched.
# Run again only when the table or the nft version changes, then review the diff of the goldens.
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/Tests/WeftNftablesTests/Golden"
for source in "$dir"/*.nft; do
  name="$(basename "$source" .nft)"
  unshare --net nft --debug=netlink -c -f "$source" > "$dir/$name.netlink"
  # mnl_nlmsg_fprintf writes one block per message; the batch starts at NFNL_MSG_BATCH_BEGIN (type 16).
  unshare --net nft --debug=mnl -c -f "$source" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | awk '
    /^----------------\t------------------$/ { if (!started) { held = $0; next } }
    !started && held != "" && /message length/ { pending = held "\n" $0; held = ""; next }
    !started && pending != "" && /\| 00016 \|/ { started = 1; print pending; pending = "" }
    !started && pending != "" { pending = "" }
    started { print }
  ' > "$dir/$name.mnl"
  echo "nft $(nft --version | awk "{print \$2}"): $(grep -c "message length" "$dir/$name.mnl") messages in $dir/$name.mnl"
done
