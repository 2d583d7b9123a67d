import { postMicrotask } from '../util/microtask.js';

/**
 * Round-robin dispatch across the VBDs of one process. A VBD with queued requests asks to be
 * woken; one microtask later the scheduler visits every woken VBD in turn, letting each hand at
 * most `quantum` requests to its driver per turn, until none can make progress. So a VBD with a
 * deep queue cannot starve the others, and requests queued in the same tick (a ring's batch)
 * are dispatched together, which is what lets the merger see them side by side.
 */
export interface Dispatchable {
  /** Set by the scheduler while the VBD is on its run list. */
  scheduled: boolean;
  /** Hand up to `max` requests to the driver; returns how many left the queue. */
  dispatch(max: number): number;
  /** Whether requests are queued (dispatchable or not). */
  hasWork(): boolean;
}

export class Scheduler {
  private readonly runList: Dispatchable[] = [];
  private posted = false;
  private running = false;
  private readonly runBound = () => this.run();

  /**
   * @param quantum requests one VBD may dispatch per turn.
   * @param roundsMax rounds per run before yielding to the event loop (drivers that complete at
   *   once could otherwise keep one run going for ever).
   */
  constructor(readonly quantum = 32, readonly roundsMax = 64) {}

  /** Put `vbd` on the run list; dispatch happens in a microtask, never inside this call. */
  wake(vbd: Dispatchable): void {
    if (!vbd.scheduled) {
      vbd.scheduled = true;
      this.runList.push(vbd);
    }
    if (!this.posted && !this.running) {
      this.posted = true;
      postMicrotask(this.runBound);
    }
  }

  private run(): void {
    this.posted = false;
    this.running = true;
    try {
      for (let rounds = 0; rounds < this.roundsMax && this.runList.length > 0; rounds++) this.round();
    } finally {
      this.running = false;
    }
    if (this.runList.length > 0) {
      this.posted = true;
      setImmediate(this.runBound);
    }
  }

  /** One turn for every VBD on the list; VBDs that made no progress or ran dry leave it. */
  private round(): void {
    const list = this.runList;
    let kept = 0;
    // VBDs woken during the round are appended and get their turn in this same pass.
    for (let i = 0; i < list.length; i++) {
      const vbd = list[i]!;
      const moved = vbd.dispatch(this.quantum);
      if (moved > 0 && vbd.hasWork()) {
        list[kept++] = vbd;
      } else {
        vbd.scheduled = false;
      }
    }
    list.length = kept;
  }
}
