// Owns the summary of a zTOC that `ztoc info` prints, with the fields of `soci ztoc info`.

import { decodeZinfo, spanForOffset } from '../inflate/zinfo.js';
import { utf8 } from '../tar/bytes.js';
import { decodeTarZinfo } from './decode.js';
import { spanTable } from './extract.js';
import type { Ztoc } from './model.js';

export interface ZtocFileInfo {
  filename: string;
  offset: number;
  size: number;
  type: string;
  start_span: number;
  end_span: number;
}

export interface ZtocInfo {
  version: string;
  build_tool: string;
  size: number;
  span_size: number;
  num_spans: number;
  num_files: number;
  num_multi_span_files: number;
  compression: string;
  compressed_size: number;
  uncompressed_size: number;
  files?: ZtocFileInfo[];
}

export function ztocInfo(z: Ztoc, byteSize: number, withFiles: boolean): ZtocInfo {
  const spanSize = z.compression === 'gzip' ? decodeZinfo(z.checkpoints).spanSize : decodeTarZinfo(z.checkpoints).spanSize;
  const starts = spanTable(z).map((s) => ({ out: s.uncompressedStart }));
  let multi = 0;
  const files: ZtocFileInfo[] = z.entries.map((e) => {
    const start = spanForOffset(starts, e.offset);
    const end = e.type === 'reg' && e.size > 0 ? spanForOffset(starts, e.offset + e.size - 1) : start;
    if (end !== start) multi++;
    return { filename: utf8(e.name), offset: e.offset, size: e.size, type: e.type, start_span: start, end_span: end };
  });
  const info: ZtocInfo = {
    version: z.version,
    build_tool: z.buildToolIdentifier,
    size: byteSize,
    span_size: spanSize,
    num_spans: z.maxSpanId + 1,
    num_files: z.entries.length,
    num_multi_span_files: multi,
    compression: z.compression,
    compressed_size: z.compressedArchiveSize,
    uncompressed_size: z.uncompressedArchiveSize,
  };
  if (withFiles) info.files = files;
  return info;
}
