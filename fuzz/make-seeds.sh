#!/bin/sh
# Regenerates the committed fuzz seeds in testdata/fuzz/seeds (not run by CI: the seeds are committed so that
# every run mutates the same inputs). Real tools make the layers: GNU tar (gnu and posix formats, so GNU long
# names and PAX records are in them), gzip -n and pigz, and a two-member gzip stream.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/testdata/fuzz/seeds"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/t/bin" "$work/t/usr/share/doc" "$work/t/üñí/日本"
head -c 8192 /dev/urandom > "$work/t/bin/random.bin"
for i in 1 2; do cat /usr/share/common-licenses/GPL-3; done > "$work/t/usr/share/doc/text.txt"
printf 'hello\n' > "$work/t/usr/share/doc/small.txt"
: > "$work/t/empty"
printf 'unicode\n' > "$work/t/üñí/日本/ファイル.txt"
ln "$work/t/usr/share/doc/small.txt" "$work/t/usr/share/doc/hardlink.txt"
ln -s ../usr/share/doc/small.txt "$work/t/bin/link"
long="$work/t/$(printf 'l%.0s' $(seq 1 120))"
mkdir -p "$long"
printf 'long\n' > "$long/$(printf 'm%.0s' $(seq 1 130)).txt"
opts="--sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000"
(cd "$work/t" && tar --format=gnu $opts -cf "$work/gnu.tar" .)
(cd "$work/t" && tar --format=posix $opts --pax-option=delete=atime,delete=ctime -cf "$work/pax.tar" .)
gzip -n -6 -c "$work/gnu.tar" > "$out/layer-gnu.tar.gz"
pigz -n -6 -c "$work/pax.tar" > "$out/layer-pax.pigz.tar.gz"
(head -c 40960 "$work/gnu.tar" | gzip -n -1; tail -c +40961 "$work/gnu.tar" | gzip -n -9) > "$out/layer-multimember.tar.gz"
ls -l "$out"
