/**
 * The byte stream a xenstored connection runs over. The server frames xsd_sockmsg packets on
 * top of it and never cares what carries the bytes: a unix socket (socket-stream.ts), a
 * guest's xenstore ring page with event-channel wake-ups (src/xenstore-sim/ring/, owned by the
 * ring helper), or an in-process pipe (memory-stream.ts).
 */
export interface ByteStream {
  /** Queue bytes for the peer. Never throws for a closed stream (the bytes are dropped). */
  write(buf: Uint8Array): void;
  /** Register the single receiver of incoming bytes. Chunks may split or glue frames. */
  onData(cb: (chunk: Buffer) => void): void;
  /** Register a callback run once when the stream closes, from either side. */
  onClose(cb: () => void): void;
  /** Close the stream; the peer sees it closed. Idempotent. */
  close(): void;
  /**
   * Optional: bytes written but not yet taken by the peer. The server drops watch events for
   * an unprivileged connection whose backlog is over its quota (XSA-349).
   */
  pendingBytes?(): number;
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
   * Optional: register a callback for when a guest domain dies or shuts down, so the server
   * can release it and fire @releaseDomain (C xenstored learns it from VIRQ_DOM_EXC).
   */
  onDomainGone?(cb: (domid: number) => void): void;
}
