# Shared by the scripts of scripts/k8s (sourced, not run).
# The cache lives outside the clone so a machine builds Kubernetes once, whatever clone runs `make e2e`.
WEFT_E2E_CACHE=${WEFT_E2E_CACHE:-/var/cache/weft-e2e}
APT_PRIVATE="$WEFT_E2E_CACHE/apt"
WEFT_K8S_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# apt with a private sources file (deb + deb-src, from the host's own sources) and private lists:
# the host's apt configuration and its lists are left as they are.
apt_private() {
	apt-get -q -o Dir::Etc::sourcelist="$APT_PRIVATE/sources.list" -o Dir::Etc::sourceparts=- \
		-o Dir::State::lists="$APT_PRIVATE/lists" -o Dir::Cache::archives="$APT_PRIVATE/archives" \
		-o APT::Sandbox::User=root "$@"
}

apt_cache_private() {
	apt-cache -o Dir::Etc::sourcelist="$APT_PRIVATE/sources.list" -o Dir::Etc::sourceparts=- \
		-o Dir::State::lists="$APT_PRIVATE/lists" "$@"
}

# Refreshes the private lists at most once an hour (the version key must not need the network
# when the lists are fresh; CI runs right after a session on the same machine).
apt_private_update() {
	mkdir -p "$APT_PRIVATE/lists/partial" "$APT_PRIVATE/archives/partial"
	# One at a time: make test and make e2e both ask (CI runs them side by side), and two writers of
	# sources.list.new or two apt-get updates on the same lists would trip over each other.
	(
		flock 8
		apt_private_update_locked
	) 8>"$APT_PRIVATE/.update.lock"
}

apt_private_update_locked() {
	# The host's own archives (its mirror), each with a deb-src line (scripts/k8s/apt_sources.py), or
	# the lines given in WEFT_E2E_APT_SOURCES.
	if [ -n "${WEFT_E2E_APT_SOURCES:-}" ]; then
		cp "$WEFT_E2E_APT_SOURCES" "$APT_PRIVATE/sources.list.new"
	else
		python3 "$WEFT_K8S_SCRIPTS/apt_sources.py" >"$APT_PRIVATE/sources.list.new" || return 1
	fi
	if ! cmp -s "$APT_PRIVATE/sources.list.new" "$APT_PRIVATE/sources.list"; then
		mv "$APT_PRIVATE/sources.list.new" "$APT_PRIVATE/sources.list"
		rm -f "$APT_PRIVATE/lists/.updated"
	else
		rm -f "$APT_PRIVATE/sources.list.new"
	fi
	if [ -z "$(find "$APT_PRIVATE/lists/.updated" -mmin -60 2>/dev/null)" ]; then
		apt_private update >"$APT_PRIVATE/update.log" 2>&1 || {
			# Offline with lists from an earlier run: keep using them.
			if ls "$APT_PRIVATE"/lists/*Sources* >/dev/null 2>&1; then
				echo "apt-get update failed; using the private lists of an earlier run" >&2
				return 0
			fi
			cat "$APT_PRIVATE/update.log" >&2
			return 1
		}
		touch "$APT_PRIVATE/lists/.updated"
	fi
}

# The newest `kubernetes` source package version the private lists know (the cache key).
k8s_source_version() {
	local v
	v=$(apt_cache_private showsrc kubernetes 2>/dev/null | sed -n 's/^Version: //p' |
		sort -V | tail -1)
	[ -n "$v" ] || { echo "no kubernetes source package in the private apt lists" >&2; return 1; }
	echo "$v"
}

# The cache directory of the current source package version (after apt_private_update).
k8s_cache_dir() {
	echo "$WEFT_E2E_CACHE/$(k8s_source_version)"
}
