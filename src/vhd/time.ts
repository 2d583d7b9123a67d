/** VHD timestamps: seconds since 2000-01-01 00:00:00 UTC, as a u32. Pure. */
import { VHD_EPOCH_MS } from './constants.js';

export function vhdTimeFromDate(date: Date): number {
  return Math.max(0, Math.floor((date.getTime() - VHD_EPOCH_MS) / 1000)) >>> 0;
}

export function vhdTimeToDate(seconds: number): Date {
  return new Date(VHD_EPOCH_MS + seconds * 1000);
}
