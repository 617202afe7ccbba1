#!/bin/sh
# `npm run example`: the main job on the bundled example, with no registry. Copies the OCI layout in
# testdata/example to a temp dir (so the repo stays clean), indexes it, lists and verifies the SOCI
# index, and reads one file back through its zTOC.
set -eu
cd "$(dirname "$0")/.."
dir=$(mktemp -d "${TMPDIR:-/tmp}/ztoc-example.XXXXXX")
cp -RL testdata/example/. "$dir/"
echo "== ztoc index oci:$dir:latest --min-layer-size 1MiB"
node bin/ztoc.js index "oci:$dir:latest" --min-layer-size 1MiB
echo "== ztoc list oci:$dir:latest"
node bin/ztoc.js list "oci:$dir:latest"
echo "== ztoc verify oci:$dir:latest"
node bin/ztoc.js verify "oci:$dir:latest"
echo "== ztoc get-file oci:$dir:latest /app/nanotime.txt"
node bin/ztoc.js get-file "oci:$dir:latest" /app/nanotime.txt
echo "(the indexed layout is in $dir)"
