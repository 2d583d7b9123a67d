import { readFileSync } from 'node:fs';
import { RunDir } from '../../src/hypervisor/rundir.js';

/** Read the shared tables the way any other process would: plain reads of the files. */
export function grantEntry(rundir: string, domid: number, ref: number): { flags: number; domid: number; frame: number } {
  const bytes = readFileSync(new RunDir(rundir).gnttab(domid));
  return { flags: bytes.readUInt16LE(ref * 8), domid: bytes.readUInt16LE(ref * 8 + 2), frame: bytes.readUInt32LE(ref * 8 + 4) };
}

export function evtchnEntry(rundir: string, domid: number, port: number): { binding: number; flags: number } {
  const bytes = readFileSync(new RunDir(rundir).evtchn(domid));
  return { binding: bytes.readUInt32LE(port * 16), flags: bytes.readUInt32LE(port * 16 + 4) };
}
