/** Shared output helpers of the image verbs: JSON with kebab-case keys, aligned text, progress. */

/** camelCase keys to kebab-case, recursively; undefined fields dropped. */
export function kebab(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(kebab);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    out[k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)] = kebab(v);
  }
  return out;
}

export function writeJson(stream: NodeJS.WritableStream, value: unknown): void {
  stream.write(JSON.stringify(kebab(value), null, 2) + '\n');
}

/** "key: value" lines with the keys in kebab-case, for people. */
export function writeFields(stream: NodeJS.WritableStream, value: object): void {
  const rows = Object.entries(value).filter(([, v]) => v !== undefined);
  const width = Math.max(...rows.map(([k]) => k.length + 4));
  for (const [k, v] of rows) {
    const key = k.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
    stream.write(`${(key + ':').padEnd(width)} ${String(v)}\n`);
  }
}

/** A progress bar on stderr, redrawn at most once per percent; `done()` ends the line. */
export function progressBar(stream: NodeJS.WritableStream, label: string): { update(done: number, total: number): void; done(): void } {
  let last = -1;
  let drawn = false;
  return {
    update(done, total) {
      const pct = total === 0 ? 100 : Math.floor((done * 100) / total);
      if (pct === last) return;
      last = pct;
      drawn = true;
      const width = 40;
      const fill = Math.round((pct * width) / 100);
      stream.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(pct).padStart(3)}%`);
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]} (${n} bytes)`;
}
