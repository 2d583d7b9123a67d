/**
 * The byte stream a xenstored connection runs over. The server frames xsd_sockmsg packets on
 * top of it and never cares what carries the bytes: a unix socket (socket-stream.ts), a
 * guest's xenstore ring page with event-channel wake-ups (src/xenstore-sim/ring/, owned by the
 * ring helper), or an in-process pipe (memory-stream.ts).
 */
export interface ByteStream {
  /** Queue bytes for the peer. Never throws for a closed stream (the bytes are dropped). */
  write(buf: Uint8Array): void;
  /**
   * Register the single receiver of incoming bytes. Chunks may split or glue frames. A chunk
   * is valid only until the callback returns: the stream may read the next one into it.
   * The receiver may return how many bytes of the chunk it took: a stream with
   * `resumeInput` leaves the rest with the peer (a guest's requests stay in its ring) and
   * delivers nothing more until resumeInput() is called; other streams ignore the value.
   */
  onData(cb: (chunk: Buffer) => number | void): void;
  /** Register a callback run once when the stream closes, from either side. */
  onClose(cb: () => void): void;
  /** Close the stream; the peer sees it closed. Idempotent. */
  close(): void;
  /**
   * Optional: bytes written but not yet taken by the peer. The server drops watch events for
   * an unprivileged connection whose backlog is over `eventQueueBytesMax`.
   */
  pendingBytes?(): number;
  /**
   * Optional flow control, offered by a guest's ring: the server then keeps its own queue of
   * frames for the guest (C's out_list) and counts what has not reached the ring yet (C's
   * outstanding requests and queued memory), instead of handing every frame to write().
   * writeSome() puts as much of `buf[offset..]` into the ring as fits now and returns the
   * byte count (0 when full or closed).
   */
  writeSome?(buf: Uint8Array, offset: number): number;
  /** With writeSome: called whenever the peer may have made room (it rang the doorbell). */
  onOutputRoom?(cb: () => void): void;
  /** After a receiver returned less than a whole chunk: deliver incoming bytes again. */
  resumeInput?(): void;
  /**
   * A guest's ring only: C's domain_conn_reset() at XS_INTRODUCE. The four ring indices go to
   * 0 and bytes not yet in the ring are dropped; the stream stays open.
   */
  resetRing?(): void;
  /**
   * A guest's ring only: C's ignore_connection(conn, err). Stop serving the guest, set the
   * page's `error` to `xsError` (XENSTORE_ERROR_*) and wake it; from inside onData, after
   * consuming what the receiver returns as taken.
   */
  failWith?(xsError: number): void;
}

/**
 * How the server reaches a guest's xenstore ring when dom0 sends XS_INTRODUCE(domid, gfn,
 * port): map the guest's page `gfn` (ForeignMemory) and bind to its event-channel `port`
 * (EventChannels.bindInterdomain), then carry bytes through struct xenstore_domain_interface.
 * Implemented by src/xenstore-sim/ring/ over src/hypervisor. Throws when the domain or page
 * does not exist; the server then answers the INTRODUCE with an error.
 */
export interface GuestConnector {
  connect(domid: number, gfn: number, port: number): ByteStream;
  /**
   * Optional: register a callback for when a guest domain dies (is dying or no longer
   * exists), so the server can release it and fire @releaseDomain (C xenstored learns it from
   * VIRQ_DOM_EXC).
   */
  onDomainGone?(cb: (domid: number) => void): void;
  /**
   * Optional: register a callback for when a guest domain shuts down or crashes but still
   * exists. C fires @releaseDomain then too, and keeps the domain and its connection until it
   * dies or is released (a toolstack may still read its nodes, or resume it).
   */
  onDomainShutdown?(cb: (domid: number) => void): void;
  /**
   * Optional: whether the hypervisor has domain `domid` (C's get_domain_info()). Without it
   * every domain counts as existing, as under the oracle's fake hypervisor.
   */
  domainExists?(domid: number): boolean;
}

/**
 * What every ByteStream class does alike: the closed flag and the onClose() callbacks. A
 * subclass sets `closed` when it closes and then calls runCloseCallbacks() (at once, or later
 * when its peer must see the close first).
 */
export abstract class ClosableStream {
  protected closed = false;
  private readonly closeCbs: (() => void)[] = [];

  onClose(cb: () => void): void {
    if (this.closed) queueMicrotask(cb);
    else this.closeCbs.push(cb);
  }

  /** Run each registered close callback once. */
  protected runCloseCallbacks(): void {
    for (const cb of this.closeCbs.splice(0)) cb();
  }
}
