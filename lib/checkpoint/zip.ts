/**
 * The central directory of a zip archive (PyTorch's checkpoint container): entry names, sizes and
 * where each entry's bytes start. ZIP64 is understood; entries are not decompressed (PyTorch
 * writes them stored), a compressed one is reported by whoever needs its bytes.
 */
import { HrsegError } from '../errors.js';
import type { ByteSource } from './source.js';

export interface ZipEntry {
  name: string;
  /** 0 = stored (the only method read in place). */
  method: number;
  size: number;
  compressedSize: number;
  /** Absolute position of the entry's first data byte. */
  dataOffset: number;
}

const EOCD = 0x06054b50,
  ZIP64_LOCATOR = 0x07064b50,
  ZIP64_EOCD = 0x06064b50,
  CENTRAL = 0x02014b50,
  LOCAL = 0x04034b50;

export function readZipDirectory(source: ByteSource): Map<string, ZipEntry> {
  const bad = (what: string): never => {
    throw new HrsegError('MODEL_FILE', `${source.name}: not a readable zip archive (${what})`);
  };
  const view = (offset: number, length: number) => {
    if (offset < 0 || length < 0 || offset + length > source.size) bad(`bytes ${offset}..${offset + length} lie outside the file (${source.size} bytes)`);
    const b = source.bytes(offset, length);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  };
  const u64 = (dv: DataView, at: number) => {
    const v = dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad(`a 64-bit field at byte ${at} is too large`);
    return Number(v);
  };
  // The end-of-central-directory record sits in the last 22 + 65535 bytes.
  const tail = Math.min(source.size, 22 + 65535);
  if (tail < 22) bad(`${source.size} bytes is too short`);
  const end = view(source.size - tail, tail);
  let eocd = -1;
  for (let i = tail - 22; i >= 0; i--)
    if (end.getUint32(i, true) === EOCD) {
      eocd = source.size - tail + i;
      break;
    }
  if (eocd < 0) bad('no end-of-central-directory record');
  const e = view(eocd, 22);
  let count = e.getUint16(10, true),
    cdSize = e.getUint32(12, true),
    cdOffset = e.getUint32(16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    if (eocd < 20) bad('ZIP64 locator missing');
    const loc = view(eocd - 20, 20);
    if (loc.getUint32(0, true) !== ZIP64_LOCATOR) bad('ZIP64 locator missing');
    const z = view(u64(loc, 8), 56);
    if (z.getUint32(0, true) !== ZIP64_EOCD) bad('ZIP64 end record missing');
    count = u64(z, 32);
    cdSize = u64(z, 40);
    cdOffset = u64(z, 48);
  }
  if (count > cdSize / 46) bad(`${count} entries cannot fit in a ${cdSize}-byte central directory`);
  const cd = view(cdOffset, cdSize);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cdSize || cd.getUint32(p, true) !== CENTRAL) bad(`central directory entry ${n} is damaged`);
    const method = cd.getUint16(p + 10, true);
    let compressedSize = cd.getUint32(p + 20, true),
      size = cd.getUint32(p + 24, true);
    const nameLen = cd.getUint16(p + 28, true),
      extraLen = cd.getUint16(p + 30, true),
      commentLen = cd.getUint16(p + 32, true);
    let local = cd.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cdSize) bad(`central directory entry ${n} runs past the directory`);
    const name = new TextDecoder().decode(new Uint8Array(cd.buffer, cd.byteOffset + p + 46, nameLen));
    // ZIP64 extra field: the 64-bit values of the fields that read 0xFFFFFFFF, in this order.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen;) {
      const id = cd.getUint16(x, true),
        len = cd.getUint16(x + 2, true);
      if (x + 4 + len > p + 46 + nameLen + extraLen) bad(`entry '${name}': extra field runs past its end`);
      if (id === 0x0001) {
        let q = x + 4;
        const next = () => {
          if (q + 8 > x + 4 + len) bad(`entry '${name}': ZIP64 field too short`);
          const v = u64(cd, q);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (local === 0xffffffff) local = next();
      }
      x += 4 + len;
    }
    const lh = view(local, 30);
    if (lh.getUint32(0, true) !== LOCAL) bad(`entry '${name}': no local header at byte ${local}`);
    const dataOffset = local + 30 + lh.getUint16(26, true) + lh.getUint16(28, true);
    if (dataOffset + compressedSize > source.size) bad(`entry '${name}': its ${compressedSize} bytes at ${dataOffset} run past the end of the file`);
    if (entries.has(name)) bad(`entry '${name}' appears twice`);
    entries.set(name, { name, method, size, compressedSize, dataOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}
