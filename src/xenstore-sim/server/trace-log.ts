import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * The daemon's trace file (C's -T file, and XS_CONTROL log / logfile): one line per request
 * and reply, appended with a plain write(2) each, like C's trace(). A file that cannot be
 * opened leaves tracing off, as in C (reopen_log() keeps tracefd at -1).
 */
export class TraceLog {
  private fd: number | undefined;

  constructor(private file: string | undefined) {
    this.reopen();
  }

  get isOpen(): boolean {
    return this.fd !== undefined;
  }

  get path(): string | undefined {
    return this.file;
  }

  /** Append one line (a no-op while closed). */
  readonly write = (line: string): void => {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, `${line}\n`);
    } catch {
      // A full disk or a removed file must not stop the daemon; C ignores trace write errors too.
    }
  };

  /** "log on": (re)open the trace file, if one is set. */
  reopen(): void {
    this.close();
    if (this.file === undefined || this.file === '') return;
    try {
      this.fd = openSync(this.file, 'a', 0o600);
    } catch {
      this.fd = undefined;
    }
  }

  /** "log off". */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** "logfile FILE": trace to FILE from now on. */
  setFile(file: string): void {
    this.close();
    this.file = file;
    this.reopen();
  }
}
