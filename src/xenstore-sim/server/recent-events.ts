import { XS_HEADER_SIZE } from '../wire/messages.js';

/** The first payload byte of "@introduceDomain" and "@releaseDomain" events. */
const AT_SIGN = 0x40;

/**
 * Watch events made for one connection and not yet sent: C's add_event() drops an event
 * identical to one still on the connection's out_list, except for "@" paths. What is "still
 * queued" follows our batching: for a dom0 connection, the frames of the chunk being handled
 * (its outbox); for a guest, the events of the request being handled (later ones that wait
 * for ring space are checked by its OutputQueue).
 *
 * Usually a connection gets one event per batch, so the first is kept as it is (compared by
 * identity, then bytes: a watch on a node that keeps changing reuses its frame); a key set is
 * made only from the second event on. An event frame's header is (XS_WATCH_EVENT, 0, 0, len),
 * so equal frames mean equal payloads.
 */
export class RecentEvents {
  private first: Buffer | undefined;
  private keys: Set<string> | undefined;

  /** Whether `frame` duplicates a recent event; if not, it is remembered. */
  duplicate(frame: Buffer): boolean {
    if (frame[XS_HEADER_SIZE] === AT_SIGN) return false;
    const first = this.first;
    if (first === undefined) {
      this.first = frame;
      return false;
    }
    if (this.keys === undefined) {
      if (frame === first || frame.equals(first)) return true;
      this.keys = new Set([first.toString('latin1')]);
    }
    const key = frame.toString('latin1');
    if (this.keys.has(key)) return true;
    this.keys.add(key);
    return false;
  }

  get empty(): boolean {
    return this.first === undefined;
  }

  clear(): void {
    this.first = undefined;
    this.keys = undefined;
  }
}
