// Test helper: runs Go's real archive/tar Reader over tar files, wrapped exactly like SOCI's
// metadataFromTarReader (a position-tracking io.Reader, Next() until EOF, getType), and reports
// what the zTOC would hold, plus what Go reads as each entry's content (a second pass). Used when
// a Go toolchain is found (PATH, or Debian's golang-1.19-go); tests skip otherwise.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const GO_SOURCE = String.raw`package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sort"
)

// pt tracks the reader position like SOCI's. It also notes where Next() reads its first header
// block: archive/tar reads every header into the same 512-byte buffer (its first read of all), so
// a 512-byte read into that buffer is a header read, whatever data or padding Next() skipped first.
type pt struct {
	r     io.Reader
	pos   int64
	blk   *byte
	hdrAt int64
}

func (p *pt) Read(b []byte) (int, error) {
	if len(b) == 512 {
		if p.blk == nil && p.pos == 0 {
			p.blk = &b[0]
		}
		if &b[0] == p.blk && p.hdrAt < 0 {
			p.hdrAt = p.pos
		}
	}
	n, err := p.r.Read(b)
	p.pos += int64(n)
	return n, err
}

type entry struct {
	Name         string      ` + '`json:"name"`' + `
	Type         string      ` + '`json:"type"`' + `
	Offset       int64       ` + '`json:"offset"`' + `
	Size         int64       ` + '`json:"size"`' + `
	Linkname     string      ` + '`json:"linkname"`' + `
	Mode         int64       ` + '`json:"mode"`' + `
	UID          uint32      ` + '`json:"uid"`' + `
	GID          uint32      ` + '`json:"gid"`' + `
	Uname        string      ` + '`json:"uname"`' + `
	Gname        string      ` + '`json:"gname"`' + `
	ModTime      string      ` + '`json:"modTime"`' + `
	Devmajor     int64       ` + '`json:"devmajor"`' + `
	Devminor     int64       ` + '`json:"devminor"`' + `
	Xattrs       [][2]string ` + '`json:"xattrs"`' + `
	HeaderOffset int64       ` + '`json:"headerOffset"`' + `
	Content      string      ` + '`json:"content"`' + `
	ContentError string      ` + '`json:"contentError,omitempty"`' + `
}

type result struct {
	Entries     []entry ` + '`json:"entries"`' + `
	ArchiveSize int64   ` + '`json:"archiveSize"`' + `
	Error       string  ` + '`json:"error,omitempty"`' + `
	Detail      string  ` + '`json:"detail,omitempty"`' + `
}

func hx(s string) string { return hex.EncodeToString([]byte(s)) }

func getType(t byte) string {
	switch t {
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeDir:
		return "dir"
	case tar.TypeReg:
		return "reg"
	case tar.TypeChar:
		return "char"
	case tar.TypeBlock:
		return "block"
	case tar.TypeFifo:
		return "fifo"
	}
	return ""
}

func scan(file string) result {
	f, err := os.Open(file)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	p := &pt{r: f}
	tr := tar.NewReader(p)
	res := result{Entries: []entry{}}
	for {
		// SOCI's loop: Next() until EOF, never reading data (Next skips it).
		p.hdrAt = -1
		hdr, err := tr.Next()
		if err == io.EOF {
			res.ArchiveSize = p.pos
			break
		}
		if err != nil {
			res.Error, res.Detail = code(err), err.Error()
			return res
		}
		t := getType(hdr.Typeflag)
		if t == "" {
			res.Error, res.Detail = "TAR_UNSUPPORTED_ENTRY", "unsupported input tar entry "+string(hdr.Typeflag)
			return res
		}
		mt, merr := hdr.ModTime.UTC().MarshalText()
		if merr != nil {
			mt = nil
		}
		xs := [][2]string{}
		for k, v := range hdr.PAXRecords {
			xs = append(xs, [2]string{hx(k), hx(v)})
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i][0] < xs[j][0] })
		res.Entries = append(res.Entries, entry{
			Name: hx(hdr.Name), Type: t, Offset: p.pos, Size: hdr.Size, Linkname: hx(hdr.Linkname),
			Mode: hdr.Mode, UID: uint32(hdr.Uid), GID: uint32(hdr.Gid), Uname: hx(hdr.Uname), Gname: hx(hdr.Gname),
			ModTime: string(mt), Devmajor: hdr.Devmajor, Devminor: hdr.Devminor, Xattrs: xs, HeaderOffset: p.hdrAt,
		})
	}
	// What Go reads as each entry's content (sparse holes included), in a pass of its own: a read
	// error is sticky in archive/tar and must not change what the TOC loop sees.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		panic(err)
	}
	cr := tar.NewReader(f)
	for i := range res.Entries {
		if _, err := cr.Next(); err != nil {
			res.Entries[i].ContentError = err.Error()
			break
		}
		h := sha256.New()
		if _, err := io.Copy(h, cr); err != nil {
			res.Entries[i].ContentError = err.Error()
			break
		}
		res.Entries[i].Content = hex.EncodeToString(h.Sum(nil))
	}
	return res
}

func code(err error) string {
	switch {
	case errors.Is(err, tar.ErrHeader):
		return "TAR_BAD_HEADER"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "TAR_TRUNCATED"
	case errors.Is(err, tar.ErrFieldTooLong):
		return "TAR_LIMIT"
	}
	return "OTHER"
}

func main() {
	out := []result{}
	for _, f := range os.Args[1:] {
		out = append(out, scan(f))
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
`;

export interface OracleEntry {
  name: string;
  type: string;
  offset: number;
  size: number;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  modTime: string;
  devmajor: number;
  devminor: number;
  xattrs: Array<[string, string]>;
  headerOffset: number;
  /** sha256 (hex) of the content Go reads for the entry (holes of sparse files as zeros). */
  content?: string;
  contentError?: string;
}

export interface OracleResult {
  entries: OracleEntry[];
  archiveSize: number;
  error?: string;
  detail?: string;
}

let built: string | null | undefined;

/** Path of the compiled oracle, or null when no Go toolchain is available. */
export function goOracle(): string | null {
  if (built !== undefined) return built;
  if (process.env.ZTOC_TEST_NO_GO === '1') {
    built = null; // simulate a machine without Go (CI): recorded outcomes still run
    return built;
  }
  const go = goBinary();
  if (go === null) {
    built = null;
    return built;
  }
  const probe = spawnSync(go, ['version'], { encoding: 'utf8' });
  const tag = createHash('sha256').update(probe.stdout).update(GO_SOURCE).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), `ztoc-tar-oracle-${tag}`);
  const bin = path.join(dir, 'tar-oracle');
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'main.go'), GO_SOURCE);
    const env = { ...process.env, GOCACHE: path.join(dir, 'cache'), GO111MODULE: 'off', CGO_ENABLED: '0' };
    execFileSync(go, ['build', '-o', bin + '.tmp', 'main.go'], { cwd: dir, env, stdio: 'pipe' });
    fs.renameSync(bin + '.tmp', bin);
  }
  built = bin;
  return built;
}

/** `go` on PATH, else Debian's golang-1.19-go (which .ci/run installs); null when neither runs. */
export function goBinary(): string | null {
  for (const go of ['go', '/usr/lib/go-1.19/bin/go']) {
    if (spawnSync(go, ['version'], { encoding: 'utf8' }).status === 0) return go;
  }
  return null;
}

function unhex(h: string): string {
  return Buffer.from(h, 'hex').toString('latin1');
}

/** Scan each tar file with Go; byte strings come back as ByteStrings (latin1). */
export function goScan(bin: string, files: string[]): OracleResult[] {
  const out = execFileSync(bin, files, { env: { ...process.env, TZ: 'UTC' }, maxBuffer: 1 << 30 }).toString('utf8');
  const raw = JSON.parse(out) as OracleResult[];
  for (const r of raw) {
    for (const e of r.entries) {
      e.name = unhex(e.name);
      e.linkname = unhex(e.linkname);
      e.uname = unhex(e.uname);
      e.gname = unhex(e.gname);
      e.xattrs = e.xattrs.map(([k, v]) => [unhex(k), unhex(v)]);
    }
  }
  return raw;
}

/** What both sides are compared on: the entries and archive size, or just the error code. */
export type Outcome = { error: string } | { entries: OracleEntry[]; archiveSize: number };

export function goOutcome(r: OracleResult): Outcome {
  if (r.error !== undefined) return { error: r.error };
  return { entries: r.entries.map(canonEntry), archiveSize: r.archiveSize };
}

export function ourOutcome(o: { ok: { entries: OracleEntry[]; archiveSize: number } } | { err: { code: string } }): Outcome {
  if ('err' in o) return { error: o.err.code };
  return { entries: o.ok.entries.map(canonEntry), archiveSize: o.ok.archiveSize };
}

function canonEntry(e: OracleEntry): OracleEntry {
  return {
    name: e.name,
    type: e.type,
    offset: e.offset,
    size: e.size,
    linkname: e.linkname,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    uname: e.uname,
    gname: e.gname,
    modTime: e.modTime,
    devmajor: e.devmajor,
    devminor: e.devminor,
    xattrs: e.xattrs.map(([k, v]) => [k, v]),
    headerOffset: e.headerOffset,
  };
}

/** Stable text of an outcome (for recording and hashing). */
export function outcomeText(o: Outcome): string {
  return JSON.stringify(o);
}
