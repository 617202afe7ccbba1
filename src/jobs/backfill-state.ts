// Owns the backfill journal (`--state FILE`): append-only JSON lines, one per finished image, each written with one
// write() and fsync'd before the image counts as finished, so a crash loses at most the images in flight. Read at
// start: the last line of an image wins; done and skipped images are not retried, failed ones are. Lines written
// under other settings (span size, min layer size, platforms, index version, build tool, optimizations, prefetch
// files) are ignored, and so is a torn last line.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { createHash } from 'node:crypto';
import { ZtocError } from '../errors.js';

export type JournalStatus = 'done' | 'skipped' | 'failed';

export interface JournalEntry {
  /** `registry/repo:tag` (the first tag naming the digest) or `registry/repo@digest`. */
  ref: string;
  repo: string;
  digest: string;
  status: JournalStatus;
  /** What happened, finer than status: indexed, exists, no-ztocs, failed… */
  outcome: string;
  reason?: string;
  error?: string;
  code?: string;
  ztocs: number;
  bytes: number;
  seconds: number;
  at: string;
  /** Settings fingerprint (see settingsKey). */
  key: string;
}

/** A short fingerprint of the settings that decide what "indexed" means for an image. */
export function settingsKey(parts: Record<string, unknown>): string {
  const canon = JSON.stringify(Object.keys(parts).sort().map((k) => [k, parts[k]]));
  return createHash('sha256').update(canon).digest('hex').slice(0, 12);
}

export interface LoadedJournal {
  /** Last entry per `repo@digest`, for the current settings. */
  entries: Map<string, JournalEntry>;
  lines: number;
  /** Entries written under other settings (ignored). */
  otherSettings: number;
  /** Lines that are not JSON entries (a torn last line after a crash). */
  unreadable: number;
}

export function imageKey(repo: string, digest: string): string {
  return `${repo}@${digest}`;
}

function isEntry(v: unknown): v is JournalEntry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e['repo'] === 'string' && typeof e['digest'] === 'string' && (e['status'] === 'done' || e['status'] === 'skipped' || e['status'] === 'failed');
}

export function loadJournal(path: string, key: string): LoadedJournal {
  const out: LoadedJournal = { entries: new Map(), lines: 0, otherSettings: 0, unreadable: 0 };
  if (!existsSync(path)) return out;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ZtocError('IO', `cannot read the state file ${path}: ${(err as Error).message}`, { cause: err });
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    out.lines++;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      out.unreadable++;
      continue;
    }
    if (!isEntry(v)) {
      out.unreadable++;
      continue;
    }
    if (v.key !== key) {
      out.otherSettings++;
      continue;
    }
    out.entries.set(imageKey(v.repo, v.digest), v);
  }
  return out;
}

/** The append side. Each record is one write() of one line followed by fsync. */
export class Journal {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  static open(path: string): Journal {
    try {
      mkdirSync(dirname(path), { recursive: true });
      const existed = existsSync(path);
      const fd = openSync(path, 'a+');
      // A crash can leave a torn last line: start on a fresh line so the next record stays readable.
      if (existed) {
        const text = readFileSync(path);
        if (text.length > 0 && text[text.length - 1] !== 0x0a) writeSync(fd, '\n');
      } else {
        // Make the new file's directory entry durable too.
        try {
          const dfd = openSync(dirname(path), 'r');
          try {
            fsyncSync(dfd);
          } finally {
            closeSync(dfd);
          }
        } catch {
          // Some filesystems refuse fsync on a directory; the file's own fsync still holds.
        }
      }
      return new Journal(path, fd);
    } catch (err) {
      if (err instanceof ZtocError) throw err;
      throw new ZtocError('IO', `cannot open the state file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  append(e: JournalEntry): void {
    if (this.fd === undefined) throw new ZtocError('INTERNAL', 'state file already closed');
    const line = Buffer.from(`${JSON.stringify(e)}\n`, 'utf8');
    let off = 0;
    while (off < line.length) off += writeSync(this.fd, line, off, line.length - off);
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
