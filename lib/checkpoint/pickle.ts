/**
 * A restricted unpickler: it understands the pickle opcodes of protocols 0 to 5 well enough to
 * rebuild the data structures a checkpoint holds, and nothing else. It never imports, calls or
 * evaluates anything a file names: a global (GLOBAL, STACK_GLOBAL, INST) becomes an inert
 * `PyGlobal`, a call (REDUCE, NEWOBJ, OBJ) becomes an inert `PyObject` unless the caller's
 * `reduce` hook recognises the callable (PyTorch's tensor rebuilders, collections.OrderedDict),
 * and persistent ids go to the caller's `persistentLoad`. A pickle is untrusted input: every
 * read is bounds-checked and every malformed byte is a MODEL_FILE error naming its position.
 */
import { HrsegError } from '../errors.js';

export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object the pickle built by calling something: kept as data, never run. */
export class PyObject {
  state: unknown = undefined;
  constructor(
    readonly callable: unknown,
    readonly args: unknown[],
  ) {}
}

export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

export type PyDict = Map<unknown, unknown>;

export interface UnpickleHooks {
  /** Resolves BINPERSID/PERSID; absent: persistent ids are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** A value for `callable(*args)` when the caller knows the callable, else undefined (kept inert). */
  reduce?: (callable: PyGlobal, args: unknown[]) => unknown;
}

const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  FLOAT: 0x46,
  INT: 0x49,
  BININT: 0x4a,
  BININT1: 0x4b,
  LONG: 0x4c,
  BININT2: 0x4d,
  NONE: 0x4e,
  PERSID: 0x50,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  STRING: 0x53,
  BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55,
  UNICODE: 0x56,
  BINUNICODE: 0x58,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  DICT: 0x64,
  EMPTY_DICT: 0x7d,
  APPENDS: 0x65,
  GET: 0x67,
  BINGET: 0x68,
  INST: 0x69,
  LONG_BINGET: 0x6a,
  LIST: 0x6c,
  EMPTY_LIST: 0x5d,
  OBJ: 0x6f,
  PUT: 0x70,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  BINFLOAT: 0x47,
  PROTO: 0x80,
  NEWOBJ: 0x81,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  BYTEARRAY8: 0x96,
} as const;

/** Python's int as a JS number when it is safe, else a bigint. */
function intValue(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Little-endian two's complement (LONG1 / LONG4). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return intValue(v);
}

export function unpickle(data: Uint8Array, label: string, hooks: UnpickleHooks = {}): unknown {
  let pos = 0;
  const fail = (what: string): never => {
    throw new HrsegError('MODEL_FILE', `${label}: unreadable pickle at byte ${pos} (${what})`);
  };
  const need = (n: number) => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > data.length) fail(`needs ${n} bytes, ${data.length - pos} left`);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = data.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const u8 = () => take(1)[0];
  const u16 = () => {
    const b = take(2);
    return b[0] | (b[1] << 8);
  };
  const u32 = () => {
    const b = take(4);
    return (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 2 ** 24;
  };
  const u64 = () => {
    const b = take(8);
    const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    if (v > BigInt(data.length)) fail(`a length of ${v} bytes is longer than the pickle`);
    return Number(v);
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text line');
    const s = new TextDecoder().decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const utf8 = (b: Uint8Array) => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      return fail('invalid UTF-8 in a string');
    }
  };

  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    if (marks.length === 0) fail('no MARK to pop to');
    const m = marks.pop()!;
    return stack.splice(m);
  };
  const call = (callable: unknown, args: unknown[]): unknown => {
    if (callable instanceof PyGlobal) {
      const known = hooks.reduce?.(callable, args);
      if (known !== undefined) return known;
      if (callable.qualified === 'collections.OrderedDict' && args.length === 0) return new Map();
    }
    return new PyObject(callable, args);
  };
  const argsOf = (v: unknown): unknown[] => {
    if (v instanceof PyTuple) return v.items;
    if (Array.isArray(v)) return v;
    return fail('call arguments are not a tuple');
  };
  const dictOf = (v: unknown): PyDict => {
    if (v instanceof Map) return v;
    return fail('SETITEM(S) target is not a dict');
  };
  const listOf = (v: unknown): unknown[] => {
    if (Array.isArray(v)) return v;
    if (v instanceof PyObject && (v.state === undefined || Array.isArray(v.state))) {
      // list subclasses built by REDUCE: keep their items in the state
      const items = (v.state as unknown[] | undefined) ?? [];
      v.state = items;
      return items;
    }
    return fail('APPEND(S) target is not a list');
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case OP.PROTO:
        if (u8() > 5) fail('pickle protocol newer than 5');
        break;
      case OP.FRAME:
        u64();
        break;
      case OP.STOP: {
        const v = pop();
        return v;
      }
      case OP.MARK:
        marks.push(stack.length);
        break;
      case OP.POP:
        if (stack.length > 0 && !(marks.length > 0 && stack.length <= marks[marks.length - 1])) stack.pop();
        else popMark();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        stack.push(top());
        break;
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.BININT: {
        const b = take(4);
        stack.push(new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true));
        break;
      }
      case OP.BININT1:
        stack.push(u8());
        break;
      case OP.BININT2:
        stack.push(u16());
        break;
      case OP.LONG1:
        stack.push(decodeLong(take(u8())));
        break;
      case OP.LONG4: {
        const b = take(4);
        const n = new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
        if (n < 0) fail('negative LONG4 length');
        stack.push(decodeLong(take(n)));
        break;
      }
      case OP.INT: {
        const s = line().trim();
        if (s === '00') stack.push(false);
        else if (s === '01') stack.push(true);
        else if (/^[-+]?\d+$/.test(s)) stack.push(intValue(BigInt(s)));
        else fail(`bad INT '${s.slice(0, 20)}'`);
        break;
      }
      case OP.LONG: {
        const s = line().trim().replace(/L$/, '');
        if (!/^[-+]?\d+$/.test(s)) fail(`bad LONG '${s.slice(0, 20)}'`);
        stack.push(intValue(BigInt(s)));
        break;
      }
      case OP.FLOAT: {
        const s = line().trim();
        const v = Number(s);
        if (s === '' || (Number.isNaN(v) && !/^[-+]?nan$/i.test(s))) fail(`bad FLOAT '${s.slice(0, 20)}'`);
        stack.push(v);
        break;
      }
      case OP.BINFLOAT: {
        const b = take(8);
        stack.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
        break;
      }
      case OP.SHORT_BINUNICODE:
        stack.push(utf8(take(u8())));
        break;
      case OP.BINUNICODE:
        stack.push(utf8(take(u32())));
        break;
      case OP.BINUNICODE8:
        stack.push(utf8(take(u64())));
        break;
      case OP.UNICODE:
        stack.push(line());
        break;
      case OP.SHORT_BINSTRING:
        stack.push(new TextDecoder('latin1').decode(take(u8())));
        break;
      case OP.BINSTRING: {
        const b = take(4);
        const n = new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
        if (n < 0) fail('negative BINSTRING length');
        stack.push(new TextDecoder('latin1').decode(take(n)));
        break;
      }
      case OP.STRING: {
        const s = line().trim();
        if (s.length < 2 || (s[0] !== "'" && s[0] !== '"') || s[s.length - 1] !== s[0]) fail('bad STRING');
        stack.push(s.slice(1, -1));
        break;
      }
      case OP.SHORT_BINBYTES:
        stack.push(take(u8()));
        break;
      case OP.BINBYTES:
        stack.push(take(u32()));
        break;
      case OP.BINBYTES8:
      case OP.BYTEARRAY8:
        stack.push(take(u64()));
        break;
      case OP.EMPTY_TUPLE:
        stack.push(new PyTuple([]));
        break;
      case OP.TUPLE1:
        stack.push(new PyTuple([pop()]));
        break;
      case OP.TUPLE2: {
        const b = pop(),
          a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case OP.TUPLE3: {
        const c = pop(),
          b = pop(),
          a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case OP.TUPLE:
        stack.push(new PyTuple(popMark()));
        break;
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.LIST:
        stack.push(popMark());
        break;
      case OP.APPEND: {
        const v = pop();
        listOf(top()).push(v);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        const l = listOf(top());
        for (const v of items) l.push(v);
        break;
      }
      case OP.EMPTY_DICT:
        stack.push(new Map());
        break;
      case OP.DICT: {
        const items = popMark();
        if (items.length % 2) fail('DICT with an odd number of items');
        const d: PyDict = new Map();
        for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
        stack.push(d);
        break;
      }
      case OP.SETITEM: {
        const v = pop(),
          k = pop();
        dictOf(top()).set(k, v);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        if (items.length % 2) fail('SETITEMS with an odd number of items');
        const d = dictOf(top());
        for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
        break;
      }
      case OP.EMPTY_SET:
        stack.push(new Set());
        break;
      case OP.ADDITEMS: {
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail('ADDITEMS target is not a set');
        for (const v of items) (s as Set<unknown>).add(v);
        break;
      }
      case OP.FROZENSET:
        stack.push(new Set(popMark()));
        break;
      case OP.GLOBAL: {
        const module = line(),
          name = line();
        stack.push(new PyGlobal(module, name));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop(),
          module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(new PyGlobal(module as string, name as string));
        break;
      }
      case OP.REDUCE: {
        const args = argsOf(pop());
        stack.push(call(pop(), args));
        break;
      }
      case OP.NEWOBJ: {
        const args = argsOf(pop());
        stack.push(new PyObject(pop(), args));
        break;
      }
      case OP.NEWOBJ_EX: {
        const kwargs = pop();
        const args = argsOf(pop());
        const o = new PyObject(pop(), args);
        o.state = kwargs;
        stack.push(o);
        break;
      }
      case OP.INST: {
        const module = line(),
          name = line();
        stack.push(new PyObject(new PyGlobal(module, name), popMark()));
        break;
      }
      case OP.OBJ: {
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class');
        stack.push(new PyObject(items[0], items.slice(1)));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        const target = top();
        if (target instanceof PyObject) target.state = state;
        // BUILD on anything else (an OrderedDict's empty state, a tensor's hooks) changes nothing we use.
        break;
      }
      case OP.BINPERSID:
      case OP.PERSID: {
        const pid = op === OP.PERSID ? line() : pop();
        if (!hooks.persistentLoad) fail('a persistent id, but this file kind has none');
        stack.push(hooks.persistentLoad!(pid));
        break;
      }
      case OP.BINPUT:
        memo.set(u8(), top());
        break;
      case OP.LONG_BINPUT:
        memo.set(u32(), top());
        break;
      case OP.PUT: {
        const s = line();
        if (!/^\d+$/.test(s)) fail('bad PUT');
        memo.set(Number(s), top());
        break;
      }
      case OP.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case OP.BINGET:
      case OP.LONG_BINGET:
      case OP.GET: {
        const k = op === OP.BINGET ? u8() : op === OP.LONG_BINGET ? u32() : Number(line());
        if (!memo.has(k)) fail(`memo ${k} was never stored`);
        stack.push(memo.get(k));
        break;
      }
      default:
        pos--;
        fail(`opcode 0x${op.toString(16).padStart(2, '0')} is not supported`);
    }
  }
}
