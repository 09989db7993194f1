/**
 * The checkpoint readers (lib/checkpoint/) on files written by PyTorch itself
 * (scripts/fixtures/make_torch_checkpoints.py, torch 1.13), on safetensors files and shards, on
 * hostile input, and under fuzzing: random mutations of valid files must give a MODEL_FILE error
 * or a readable checkpoint, never a crash, a hang or another kind of error.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { toFloat32, toNumbers, type CheckpointDType } from '../lib/checkpoint/dtype.js';
import { openCheckpoint } from '../lib/checkpoint/index.js';
import { type PyGlobal, PyObject, unpickle } from '../lib/checkpoint/pickle.js';
import { parseSafetensors } from '../lib/checkpoint/safetensors-reader.js';
import { BufferSource } from '../lib/checkpoint/source.js';
import { parseTorchZip } from '../lib/checkpoint/torch-zip.js';
import { readZipDirectory } from '../lib/checkpoint/zip.js';
import { HrsegError } from '../lib/errors.js';
import { encodeSafetensors } from '../lib/safetensors.js';
import { freshSeed, makeRng } from './helpers/random.js';

const FIX = join(import.meta.dirname, 'fixtures/checkpoints');
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Record<
  string,
  Record<string, { dtype: string; shape: number[]; values: number[] }>
> & { torch: string };
const TORCH_DTYPES: Record<string, CheckpointDType> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', bool: 'BOOL' };
const work = mkdtempSync(join(tmpdir(), 'hrseg-ckpt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function expectTensors(file: string, want: Record<string, { dtype: string; shape: number[]; values: number[] }>) {
  const ck = openCheckpoint(join(FIX, file));
  expect(ck.keys().sort()).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    const t = ck.get(name);
    expect(t.dtype, name).toBe(TORCH_DTYPES[w.dtype]);
    expect(t.shape, name).toEqual(w.shape);
    const got = ['I64', 'BOOL'].includes(t.dtype) ? toNumbers(t.bytes(), t.dtype, name) : Array.from(t.float32());
    // f16/bf16/f64 values: PyTorch widened them to float64 exactly; ours go through float32.
    expect(got.length, name).toBe(w.values.length);
    got.forEach((v, i) => expect(v, `${name}[${i}]`).toBeCloseTo(w.values[i], t.dtype === 'F64' ? 6 : 12));
  }
  return ck;
}

describe(`PyTorch checkpoints written by torch ${expected.torch}`, () => {
  it('a plain state dict: every dtype, strided views, shared storages, parameters, scalars, empty tensors', () => {
    const ck = expectTensors('plain.pth', expected['plain.pth']);
    expect(ck.format).toBe('pytorch-zip');
    expect(ck.get('transposed').contiguous).toBe(false);
    expect(ck.get('shared.a').contiguous).toBe(true);
    expect(() => ck.get('nope')).toThrow(/plain\.pth: tensor 'nope' is missing/);
    expect(() => ck.get('encoder.weight').expectShape([3, 4])).toThrow(/has shape \[4, 3\], expected \[3, 4\]/);
    ck.close();
  });

  it("DeepSpeed's layout: the weights under 'module', frozen copies and unknown objects ignored (protocol 4)", () => {
    const ck = expectTensors('deepspeed.pt', expected['deepspeed.pt']);
    expect(ck.metadata).toEqual({ root: 'module' });
    ck.close();
  });

  it('a pickle that asks for os.system is read as inert data; nothing is called', () => {
    const ck = openCheckpoint(join(FIX, 'hostile.pth'));
    expect(ck.keys()).toEqual(['weight']);
    expect(Array.from(ck.get('weight').float32())).toEqual([1, 1, 1, 1]);
    ck.close();
    // The raw pickle: the call is an inert PyObject naming the global and its argument.
    const src = new BufferSource(new Uint8Array(readFileSync(join(FIX, 'hostile.pth'))), 'hostile.pth');
    const zip = readZipDirectory(src);
    const pkl = [...zip.values()].find((e) => e.name.endsWith('data.pkl'))!;
    const root = unpickle(src.bytes(pkl.dataOffset, pkl.size), 'hostile', { persistentLoad: () => 'storage' }) as Map<string, unknown>;
    const evil = root.get('evil') as PyObject;
    expect(evil).toBeInstanceOf(PyObject);
    expect((evil.callable as PyGlobal).qualified).toMatch(/^(os|posix)\.system$/);
    expect(evil.args).toEqual(['echo hrseg-pwned > /tmp/hrseg-pwned']);
    // A global with no reducer stays a global; a bare REDUCE of builtins.eval is inert too.
    const bytes = Uint8Array.from([0x80, 0x02, 0x63, ...Buffer.from('builtins\neval\n'), 0x58, 2, 0, 0, 0, 0x31, 0x2b, 0x85, 0x52, 0x2e]);
    const v = unpickle(bytes, 'eval') as PyObject;
    expect((v.callable as PyGlobal).qualified).toBe('builtins.eval');
    expect(v.args).toEqual(['1+']);
  });

  it('ZIP64 archives (64-bit sizes and offsets in extra fields, the ZIP64 end records) read the same', () => {
    const plain = new Uint8Array(readFileSync(join(FIX, 'plain.pth')));
    const src = new BufferSource(plain, 'plain.pth');
    const zip64 = new BufferSource(rewriteAsZip64(src), 'plain-zip64.pth');
    const a = parseTorchZip(src).tensors,
      b = parseTorchZip(zip64).tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) expect(Buffer.from(b.get(k)!.bytes()).equals(Buffer.from(t.bytes())), k).toBe(true);
  });

  it('a directory, a shard index over .bin shards, a legacy file and a missing file', () => {
    const dir = join(work, 'hf');
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(join(work, 'legacy.pth'), Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]));
    expect(() => openCheckpoint(join(work, 'legacy.pth'))).toThrow(/legacy format/);
    expect(() => openCheckpoint(join(work, 'missing.pth'))).toThrow(/checkpoint not found/);
    expect(() => openCheckpoint(work)).toThrow(/no checkpoint in this directory/);
    const shardDir = mkdtempSync(join(work, 'shards-'));
    writeFileSync(join(shardDir, 'pytorch_model-00001-of-00002.bin'), readFileSync(join(FIX, 'plain.pth')));
    writeFileSync(join(shardDir, 'pytorch_model-00002-of-00002.bin'), readFileSync(join(FIX, 'hostile.pth')));
    writeFileSync(
      join(shardDir, 'pytorch_model.bin.index.json'),
      JSON.stringify({ weight_map: { 'encoder.weight': 'pytorch_model-00001-of-00002.bin', weight: 'pytorch_model-00002-of-00002.bin' } }),
    );
    const ck = openCheckpoint(shardDir);
    expect(ck.keys()).toEqual(['encoder.weight', 'weight']);
    expect(ck.get('encoder.weight').shape).toEqual([4, 3]);
    ck.close();
    writeFileSync(join(shardDir, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: { x: '../../etc/passwd' } }));
    expect(() => openCheckpoint(shardDir)).toThrow(/is not a file beside the index/);
  });
});

describe('safetensors files and shards', () => {
  const rng = makeRng(1);
  const a = Float32Array.from({ length: 12 }, () => rng() - 0.5);
  const half = Uint16Array.from([0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x8000]); // 1, -2, ~1/3, 2^-24, 65504, -0
  const bf = Uint16Array.from([0x3f80, 0xc040, 0x4049]); // 1, -3, 3.140625
  const file = (name: string, t: Parameters<typeof encodeSafetensors>[0]) => {
    const p = join(work, name);
    writeFileSync(p, encodeSafetensors(t, { note: 'test' }));
    return p;
  };

  it('reads F32 (in place), F16 and BF16 values, metadata, and sharded indexes', () => {
    const p = file('one.safetensors', {
      a: { dtype: 'F32', shape: [3, 4], data: a },
      h: { dtype: 'F16', shape: [6], data: half },
    });
    const ck = openCheckpoint(p);
    expect(ck.format).toBe('safetensors');
    expect(ck.metadata).toEqual({ note: 'test' });
    expect(Array.from(ck.get('a').float32())).toEqual(Array.from(a));
    expect(Array.from(ck.get('h').float32())).toEqual([1, -2, Math.fround(0.333251953125), 2 ** -24, 65504, -0]);
    // A zero-copy view: asking twice gives the same mapped memory.
    expect(ck.get('a').bytes().buffer).toBe(ck.get('a').bytes().buffer);
    ck.close();
    file('s1.safetensors', { a: { dtype: 'F32', shape: [12], data: a } });
    file('s2.safetensors', { b: { dtype: 'BF16', shape: [3], data: bf } });
    writeFileSync(join(work, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's2.safetensors' } }));
    const sh = openCheckpoint(join(work, 'model.safetensors.index.json'));
    expect(sh.format).toBe('safetensors-sharded');
    expect(Array.from(sh.get('b').float32())).toEqual([1, -3, 3.140625]);
    sh.close();
  });

  it('names the tensor or byte range of each inconsistency', () => {
    const good = encodeSafetensors({
      a: { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) },
      b: { dtype: 'F32', shape: [2], data: new Float32Array(2) },
    });
    const headerLen = Number(good.readBigUInt64LE(0));
    const json = JSON.parse(good.subarray(8, 8 + headerLen).toString());
    const withHeader = (h: unknown) => {
      let s = JSON.stringify(h);
      s += ' '.repeat(Math.max(0, headerLen - s.length));
      const out = Buffer.alloc(8 + s.length + good.length - 8 - headerLen);
      out.writeBigUInt64LE(BigInt(s.length), 0);
      out.write(s, 8);
      good.copy(out, 8 + s.length, 8 + headerLen);
      return new BufferSource(out, 'x.safetensors');
    };
    const err = (src: BufferSource) => {
      try {
        parseSafetensors(src);
      } catch (e) {
        expect(e).toBeInstanceOf(HrsegError);
        expect((e as HrsegError).code).toBe('MODEL_FILE');
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err(withHeader({ ...json, a: { ...json.a, dtype: 'Q8' } }))).toMatch(/tensor 'a': dtype "Q8" is not supported/);
    expect(err(withHeader({ ...json, a: { ...json.a, shape: [3, 2] } }))).toMatch(
      /tensor 'a': data_offsets \[0, 16\) hold 16 bytes, but F32 \[3, 2\] needs 24/,
    );
    expect(err(withHeader({ ...json, b: { ...json.b, data_offsets: [8, 16] } }))).toMatch(/overlap/);
    expect(err(withHeader({ ...json, b: { ...json.b, data_offsets: [16, 999] } }))).toMatch(/'b'/);
    expect(err(new BufferSource(good.subarray(0, 20), 'x'))).toMatch(/truncated: header claims bytes 8\.\.\d+/);
    expect(err(new BufferSource(new Uint8Array(3), 'x'))).toMatch(/truncated: 3 bytes/);
  });
});

/**
 * The same entries as a ZIP64 archive, every size and offset moved to 64-bit extra fields (the
 * 32-bit fields read 0xFFFFFFFF) and the end record pointing to a ZIP64 end record through its
 * locator: the form torch.save writes for checkpoints over 4 GB.
 */
function rewriteAsZip64(src: BufferSource): Uint8Array {
  const parts: Uint8Array[] = [];
  let pos = 0;
  const put = (b: Uint8Array) => {
    parts.push(b);
    pos += b.length;
  };
  const central: Uint8Array[] = [];
  for (const e of readZipDirectory(src).values()) {
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30 + name.length + 20);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(45, 4);
    local.writeUInt32LE(0xffffffff, 18);
    local.writeUInt32LE(0xffffffff, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(20, 28);
    name.copy(local, 30);
    local.writeUInt16LE(0x0001, 30 + name.length);
    local.writeUInt16LE(16, 32 + name.length);
    local.writeBigUInt64LE(BigInt(e.size), 34 + name.length);
    local.writeBigUInt64LE(BigInt(e.compressedSize), 42 + name.length);
    const offset = pos;
    put(local);
    put(src.bytes(e.dataOffset, e.compressedSize));
    const c = Buffer.alloc(46 + name.length + 28);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(45, 4);
    c.writeUInt16LE(45, 6);
    c.writeUInt16LE(e.method, 10);
    c.writeUInt32LE(0xffffffff, 20);
    c.writeUInt32LE(0xffffffff, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(28, 30);
    c.writeUInt32LE(0xffffffff, 42);
    name.copy(c, 46);
    const x = 46 + name.length;
    c.writeUInt16LE(0x0001, x);
    c.writeUInt16LE(24, x + 2);
    c.writeBigUInt64LE(BigInt(e.size), x + 4);
    c.writeBigUInt64LE(BigInt(e.compressedSize), x + 12);
    c.writeBigUInt64LE(BigInt(offset), x + 20);
    central.push(c);
  }
  const cdOffset = pos;
  for (const c of central) put(c);
  const cdSize = pos - cdOffset,
    z64 = pos;
  const end64 = Buffer.alloc(56);
  end64.writeUInt32LE(0x06064b50, 0);
  end64.writeBigUInt64LE(44n, 4);
  end64.writeBigUInt64LE(BigInt(central.length), 24);
  end64.writeBigUInt64LE(BigInt(central.length), 32);
  end64.writeBigUInt64LE(BigInt(cdSize), 40);
  end64.writeBigUInt64LE(BigInt(cdOffset), 48);
  put(end64);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(z64), 8);
  locator.writeUInt32LE(1, 16);
  put(locator);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0xffff, 8);
  end.writeUInt16LE(0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  put(end);
  return Buffer.concat(parts);
}

// ---- fuzzing ----

/** One mutation of `base`: flipped bytes, a cut, an insertion, an extreme field, a repeated chunk. */
function mutate(base: Uint8Array, rng: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(rng() * n);
  let b = Uint8Array.from(base);
  const kind = pick(6);
  if (kind === 0) for (let i = 0, n = 1 + pick(8); i < n; i++) b[pick(b.length)] = pick(256);
  else if (kind === 1) b = b.subarray(0, pick(b.length));
  else if (kind === 2) {
    const at = pick(b.length),
      ins = Uint8Array.from({ length: 1 + pick(16) }, () => pick(256));
    b = Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
  } else if (kind === 3) {
    const at = pick(Math.max(1, b.length - 8));
    const v = [0xff, 0x00, 0x7f, 0x80][pick(4)];
    b.fill(v, at, at + [1, 2, 4, 8][pick(4)]);
  } else if (kind === 4) {
    const at = pick(b.length),
      len = pick(64),
      to = pick(b.length);
    b.copyWithin(to, at, at + len);
  } else for (let i = 0, n = 1 + pick(3); i < n; i++) b[pick(b.length)] ^= 1 << pick(8);
  return b;
}

/** Parses and reads every tensor; only MODEL_FILE errors are allowed. Returns whether it read. */
function tryRead(
  bytes: Uint8Array,
  parse: (s: BufferSource) => { tensors: Map<string, { bytes(): Uint8Array; dtype: CheckpointDType; label: string }> },
): boolean {
  try {
    const { tensors } = parse(new BufferSource(bytes, 'fuzz'));
    for (const t of tensors.values()) {
      const b = t.bytes();
      if (['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) toFloat32(b, t.dtype, t.label);
    }
    return true;
  } catch (e) {
    if (!(e instanceof HrsegError) || e.code !== 'MODEL_FILE') throw new Error(`not a MODEL_FILE error: ${(e as Error)?.stack ?? e}`, { cause: e });
    return false;
  }
}

describe('fuzzing the readers (random mutations of valid files)', () => {
  const seed = freshSeed();
  const FUZZ_CASES = 100_000;

  it(`${FUZZ_CASES} mutated safetensors and PyTorch zip files: MODEL_FILE or a readable checkpoint, nothing else (seed ${seed})`, () => {
    const rng = makeRng(seed);
    const bases: [Uint8Array, typeof parseSafetensors | typeof parseTorchZip][] = [
      [new Uint8Array(readFileSync(join(FIX, 'plain.pth'))), parseTorchZip],
      [new Uint8Array(readFileSync(join(FIX, 'deepspeed.pt'))), parseTorchZip],
      [new Uint8Array(readFileSync(join(FIX, 'hostile.pth'))), parseTorchZip],
      [rewriteAsZip64(new BufferSource(new Uint8Array(readFileSync(join(FIX, 'plain.pth'))))), parseTorchZip],
      [
        new Uint8Array(
          encodeSafetensors({
            w: { dtype: 'F32', shape: [4, 3], data: new Float32Array(12).fill(0.5) },
            h: { dtype: 'F16', shape: [5], data: new Uint16Array(5).fill(0x3c00) },
            b: { dtype: 'BF16', shape: [2, 2], data: new Uint16Array(4).fill(0x3f80) },
          }),
        ),
        parseSafetensors,
      ],
    ];
    for (const [b, parse] of bases) expect(tryRead(b, parse)).toBe(true); // the unmutated files read
    const rss0 = process.memoryUsage().rss;
    let read = 0;
    const t0 = performance.now();
    for (let i = 0; i < FUZZ_CASES; i++) {
      const [b, parse] = bases[i % bases.length];
      if (tryRead(mutate(b, rng), parse)) read++;
    }
    const seconds = (performance.now() - t0) / 1000;
    const grew = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(
      `fuzz: ${FUZZ_CASES} cases in ${seconds.toFixed(1)} s, ${read} still readable, the rest MODEL_FILE; RSS grew ${grew.toFixed(0)} MiB (seed ${seed})`,
    );
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThan(FUZZ_CASES);
    expect(grew).toBeLessThan(512); // bounded: a mutated length field must not allocate its claim
  }, 300_000);
});
