#!/bin/sh
# Regenerates src/ztoc/generated/ from our schemas with Debian's flatc (apt-get install flatbuffers-compiler).
set -e
cd "$(dirname "$0")/.."
out=src/ztoc/generated
rm -rf "$out" && mkdir -p "$out"
flatc --ts --ts-flat-files -o "$out" src/ztoc/schema/ztoc.fbs src/ztoc/schema/zinfo.fbs
ls "$out"
