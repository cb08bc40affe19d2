/**
 * What the soak checks for leaks after each fault, load paused: the sizes of the stores' internal maps and queues
 * (read from their private fields: this is a test's look inside, not an API), and the clients' connections checked
 * out. Each must come back to its baseline.
 */
import type { MongoStore } from '../../src';
import { lateWrites } from '../../src/write-order';

export interface Internals {
  /** operations the stores run now */
  inFlight: number;
  /** operations waiting for a connection not known yet */
  waiting: number;
  /** shared reads and touches not yet answered, and batches not yet sent */
  sharedWork: number;
  /** listeners and waits the connections must end at close */
  cleanups: number;
  /** connections checked out of the pools */
  checkedOut: number;
  /**
   * failed writes clear() still remembers that were past their time when the last set or destroy ended (that write
   * forgot them; those within their time are bounded by time, and reported)
   */
  lateWritesPast: number;
}

type Inside = {
  ops?: { inFlight?: Set<unknown>; waiters?: { waiters?: Set<unknown> } };
  shared?: { size: { reads: number; touches: number; queued: number } };
  connection?: { cleanups?: Set<unknown>; client?: { on(e: string, f: () => void): void } };
};

const checkedOut = new WeakMap<object, { n: number }>();

/** Counts the connections `store`'s client has checked out, from now on (CMAP events). */
function watchPool(store: MongoStore): { n: number } {
  let c = checkedOut.get(store);
  if (!c) {
    const counter = (c = { n: 0 });
    checkedOut.set(store, counter);
    const client = (store as unknown as Inside).connection?.client;
    client?.on('connectionCheckedOut', () => counter.n++);
    client?.on('connectionCheckedIn', () => counter.n--);
  }
  return c;
}

export function internals(stores: MongoStore[], lastWriteEnded = Date.now()): Internals {
  const sum = (f: (s: Inside) => number) => stores.reduce((n, s) => n + f(s as unknown as Inside), 0);
  return {
    inFlight: sum((s) => s.ops?.inFlight?.size ?? 0),
    waiting: sum((s) => s.ops?.waiters?.waiters?.size ?? 0),
    sharedWork: sum((s) => (s.shared ? s.shared.size.reads + s.shared.size.touches + s.shared.size.queued : 0)),
    cleanups: sum((s) => s.connection?.cleanups?.size ?? 0),
    checkedOut: stores.reduce((n, s) => n + watchPool(s).n, 0),
    lateWritesPast: lateWrites(undefined, lastWriteEnded - 50).past,
  };
}
