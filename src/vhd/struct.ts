/**
 * A big-endian struct codec driven by one declaration per struct: a table of fields with their
 * byte offset, size and kind. Readers and writers are derived from the table, so a layout is
 * written down exactly once (the VHD specification's tables, the C names in comments).
 *
 * Pure: Buffers in, plain objects out, no I/O.
 */
import { assert } from '../util/assert.js';

export type FieldKind = 'u8' | 'u32' | 'u64' | 'bytes';

export interface FieldSpec {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly kind: FieldKind;
}

type FieldValue<K extends FieldKind> = K extends 'u64' ? bigint : K extends 'bytes' ? Uint8Array : number;

/** The decoded value of a struct: one property per field, typed by its kind. */
export type StructValue<F extends readonly FieldSpec[]> = {
  [P in F[number] as P['name']]: FieldValue<P['kind']>;
};

export interface StructLayout<F extends readonly FieldSpec[]> {
  readonly name: string;
  /** Size in bytes of the encoded struct. */
  readonly size: number;
  readonly fields: F;
  /** Field by name, for code that needs an offset (checksum fields, single-field patches). */
  field(name: F[number]['name']): FieldSpec;
  /** Decode from `buf` at `at` (buf must hold `size` bytes there). Byte fields are copies. */
  read(buf: Uint8Array, at?: number): StructValue<F>;
  /** Encode into `buf` at `at`; bytes not covered by a field are left as they are. */
  write(value: StructValue<F>, buf: Uint8Array, at?: number): void;
}

const kindSize: Record<Exclude<FieldKind, 'bytes'>, number> = { u8: 1, u32: 4, u64: 8 };

/**
 * Declare a struct. Asserts at load time that the fields are in order, do not overlap, fit the
 * struct and have sizes matching their kinds: a wrong table is a programmer error.
 */
export function defineStruct<const F extends readonly FieldSpec[]>(name: string, size: number, fields: F): StructLayout<F> {
  let end = 0;
  for (const f of fields) {
    assert(f.offset >= end, `${name}.${f.name}: overlaps the previous field`);
    if (f.kind !== 'bytes') assert(f.size === kindSize[f.kind], `${name}.${f.name}: size ${f.size} is not a ${f.kind}`);
    end = f.offset + f.size;
    assert(end <= size, `${name}.${f.name}: ends past the struct's ${size} bytes`);
  }
  const byName = new Map(fields.map((f) => [f.name, f] as const));
  return {
    name,
    size,
    fields,
    field(fieldName) {
      const f = byName.get(fieldName);
      assert(f !== undefined, `${name}: no field ${fieldName}`);
      return f;
    },
    read(buf, at = 0) {
      assert(buf.length - at >= size, `${name}: need ${size} bytes`);
      const view = new DataView(buf.buffer, buf.byteOffset + at, size);
      const out: Record<string, unknown> = {};
      for (const f of fields) out[f.name] = readField(view, buf, at, f);
      return out as StructValue<F>;
    },
    write(value, buf, at = 0) {
      assert(buf.length - at >= size, `${name}: need ${size} bytes`);
      const view = new DataView(buf.buffer, buf.byteOffset + at, size);
      const record = value as Record<string, unknown>;
      for (const f of fields) writeField(view, buf, at, f, record[f.name]);
    },
  };
}

function readField(view: DataView, buf: Uint8Array, at: number, f: FieldSpec): unknown {
  switch (f.kind) {
    case 'u8':
      return view.getUint8(f.offset);
    case 'u32':
      return view.getUint32(f.offset, false);
    case 'u64':
      return view.getBigUint64(f.offset, false);
    case 'bytes':
      return buf.slice(at + f.offset, at + f.offset + f.size);
  }
}

function writeField(view: DataView, buf: Uint8Array, at: number, f: FieldSpec, v: unknown): void {
  switch (f.kind) {
    case 'u8':
      view.setUint8(f.offset, v as number);
      return;
    case 'u32':
      view.setUint32(f.offset, v as number, false);
      return;
    case 'u64':
      view.setBigUint64(f.offset, v as bigint, false);
      return;
    case 'bytes': {
      const bytes = v as Uint8Array;
      assert(bytes.length <= f.size, `${f.name}: ${bytes.length} bytes do not fit in ${f.size}`);
      buf.fill(0, at + f.offset, at + f.offset + f.size);
      buf.set(bytes, at + f.offset);
      return;
    }
  }
}

/** A u64 that must be a byte offset or size: a safe integer, or undefined when out of range. */
export function u64ToNumber(v: bigint): number | undefined {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}
