/** A plain aligned table for people; scripts use --output=json instead. */
export function printTable(out: NodeJS.WritableStream, columns: string[], rows: Array<Record<string, unknown>>): void {
  const cells = [columns, ...rows.map((row) => columns.map((c) => String(row[c] ?? '')))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells) out.write(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
}
