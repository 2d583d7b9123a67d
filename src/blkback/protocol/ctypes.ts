/**
 * A tiny C struct model: a struct is declared once as an ordered list of typed fields, and its
 * layout for an ABI (offsets, sizes, padding) is computed with that ABI's alignment rules, as a
 * C compiler would. The blkif structs are declared once in structs.ts and their x86_64 and
 * x86_32 tables are generated from that one definition.
 */
import { assert } from '../../util/assert.js';

export type Scalar = 'u8' | 'u16' | 'i16' | 'u32' | 'u64';

const scalarBytes: Readonly<Record<Scalar, number>> = { u8: 1, u16: 2, i16: 2, u32: 4, u64: 8 };

/** An ABI's alignment rules: only uint64_t differs between x86_64 (8) and i386 (4). */
export interface Abi {
  readonly name: 'x86_64' | 'x86_32';
  readonly u64Align: number;
}

export const ABI_X86_64: Abi = { name: 'x86_64', u64Align: 8 };
export const ABI_X86_32: Abi = { name: 'x86_32', u64Align: 4 };

export interface FieldDef {
  readonly name: string;
  readonly type: Scalar | StructDef;
  /** Array length (`seg[11]`), 1 for a plain field. */
  readonly count?: number;
  /** Present only in these ABIs (blkif.h's `#ifdef __i386__ uint64_t pad;`). */
  readonly onlyIn?: Abi['name'];
}

export interface StructDef {
  readonly cName: string;
  readonly fields: readonly FieldDef[];
}

/** One row of a computed layout: {name, offset, size} (size of the whole array for arrays). */
export interface FieldLayout {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  /** Bytes of one element (equals size for non-arrays). */
  readonly elementSize: number;
}

export interface StructLayout {
  readonly cName: string;
  readonly size: number;
  readonly align: number;
  readonly fields: readonly FieldLayout[];
  /** Offset of a field by name; asserts it exists (our own declarations). */
  offsetOf(name: string): number;
}

function alignOf(type: Scalar | StructDef, abi: Abi): number {
  if (typeof type === 'string') return type === 'u64' ? abi.u64Align : scalarBytes[type];
  return layoutOf(type, abi).align;
}

function sizeOf(type: Scalar | StructDef, abi: Abi): number {
  return typeof type === 'string' ? scalarBytes[type] : layoutOf(type, abi).size;
}

const roundUp = (n: number, align: number) => Math.ceil(n / align) * align;

/** Lay `def` out as the C compiler does for `abi` (natural alignment, tail padding). */
export function layoutOf(def: StructDef, abi: Abi): StructLayout {
  const fields: FieldLayout[] = [];
  let offset = 0;
  let align = 1;
  for (const f of def.fields) {
    if (f.onlyIn !== undefined && f.onlyIn !== abi.name) continue;
    const a = alignOf(f.type, abi);
    const elementSize = sizeOf(f.type, abi);
    offset = roundUp(offset, a);
    fields.push({ name: f.name, offset, size: elementSize * (f.count ?? 1), elementSize });
    offset += elementSize * (f.count ?? 1);
    align = Math.max(align, a);
  }
  const byName = new Map(fields.map((f) => [f.name, f.offset]));
  return {
    cName: def.cName,
    size: roundUp(offset, align),
    align,
    fields,
    offsetOf(name: string): number {
      const o = byName.get(name);
      assert(o !== undefined, `${def.cName} has no field ${name} in ${abi.name}`);
      return o;
    },
  };
}
