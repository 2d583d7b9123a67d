import { err, ok, SplitblkError, type Result } from '../util/errors.js';
import type { DiskSpec } from './api.js';
import { ERR_BAD_SPEC } from './errors.js';

/**
 * Parse `type:path[?key=value&key=value]`. The path is kept verbatim (it may contain `:`); only
 * the first `?` starts the parameters. Types are lower-case identifiers.
 */
export function parseSpec(text: string): Result<DiskSpec> {
  const colon = text.indexOf(':');
  const type = colon < 0 ? '' : text.slice(0, colon);
  if (!/^[a-z][a-z0-9_-]*$/.test(type)) {
    return err(new SplitblkError(ERR_BAD_SPEC, `not a type:/path image spec: ${JSON.stringify(text)}`, { spec: text }));
  }
  const rest = text.slice(colon + 1);
  const question = rest.indexOf('?');
  const path = question < 0 ? rest : rest.slice(0, question);
  const params: Record<string, string> = {};
  if (question >= 0) {
    for (const pair of rest.slice(question + 1).split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      if (key === '') {
        return err(new SplitblkError(ERR_BAD_SPEC, `empty parameter name in ${JSON.stringify(text)}`, { spec: text }));
      }
      params[key] = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    }
  }
  return ok({ text, type, path, params });
}

/** Parse a size such as 4096, 64K, 1M, 2G (binary units) into bytes; undefined if malformed. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  const bytes = Number(m[1]) * unit;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** A spec parameter that must be one of the given values. */
export function sectorSizeParam(spec: DiskSpec): Result<number> {
  const text = spec.params['sector-size'];
  if (text === undefined) return ok(512);
  if (text !== '512' && text !== '4096') {
    return err(new SplitblkError(ERR_BAD_SPEC, `sector-size must be 512 or 4096 in ${JSON.stringify(spec.text)}`, { spec: spec.text }));
  }
  return ok(Number(text));
}

/** Values a switch parameter takes, after QEMU's boolean options (`read-zeroes=on|off`). */
const SWITCH_VALUES: Readonly<Record<string, boolean>> = { on: true, off: false, true: true, false: false, '1': true, '0': false };

/**
 * A switch parameter such as `?read-zeroes=off`: `on`/`off` (also `true`/`false`, `1`/`0`);
 * `fallback` when absent; anything else is ERR_BAD_SPEC naming the parameter.
 */
export function switchParam(spec: DiskSpec, name: string, fallback: boolean): Result<boolean> {
  const text = spec.params[name];
  if (text === undefined) return ok(fallback);
  const value = Object.hasOwn(SWITCH_VALUES, text) ? SWITCH_VALUES[text] : undefined;
  if (value === undefined) {
    return err(new SplitblkError(ERR_BAD_SPEC, `${name} must be on or off in ${JSON.stringify(spec.text)}; got ${JSON.stringify(text)}`,
      { spec: spec.text, param: name, value: text }));
  }
  return ok(value);
}
