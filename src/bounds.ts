/**
 * The store's waits, each bounded: a promise within a time, a cursor whose every fetch must answer within
 * operationTimeoutMS, and the queue of operations waiting for a connection that is not there yet (which an operation
 * that gives up leaves, so a connection that never comes holds nothing per call).
 */
import type { FindCursor } from 'mongodb';
import { MongoStoreError } from './errors';

export const NO_ANSWER = 'MongoDB did not answer (the store keeps retrying; see operationTimeoutMS)';

export const timeoutError = (name: string, ms: number, why: string) => new MongoStoreError(`MongoStore.${name}() timed out after ${ms} ms: ${why}`, 'ERR_CONNECT_MONGO_TIMEOUT');

/**
 * The driver options of one command of a call due by `deadline` (performance.now() ms), none once the time is up
 * (the caller has its answer). `signal` (operations.ts) ends the command, its server selection and check-out
 * included, when the caller is told it timed out: driver 7.x ignores timeoutMS (a no-op there) and would wait out
 * an app client's 30 s server selection, then send it (test/fault-late-commands.test.ts). timeoutMS is still sent,
 * for 6.x (CSOT there).
 */
export function commandOptions(name: string, ms: number, deadline: number, signal: AbortSignal, writeConcern?: object): { timeoutMS: number; signal: AbortSignal; writeConcern?: object } {
  const left = Math.floor(deadline - performance.now());
  if (left <= 0) throw timeoutError(name, ms, 'before its command was sent');
  return writeConcern ? { timeoutMS: left, signal, writeConcern } : { timeoutMS: left, signal };
}

/** `p`, keeping the process alive until it settles (the store's own timers are unref'd; whoever awaits this is not). */
export function keepingAlive<T>(p: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 2 ** 31 - 1);
  return p.finally(() => clearInterval(hold));
}

/**
 * Resolves once performance.now() has passed `deadline`. The driver's timeout of a command can end it up to a
 * millisecond or two before the call's deadline (timeoutMS is whole ms, and timers may fire early): a call whose
 * promise holds until its deadline must wait out the rest.
 */
export async function untilPast(deadline: number): Promise<void> {
  while (performance.now() < deadline) await new Promise((r) => setTimeout(r, Math.max(1, Math.ceil(deadline - performance.now()))));
}

/** The store's own timeout (timeoutError), also as the reason a timed-out operation's signal aborted with. */
export const isTimeout = (e: unknown) => e instanceof MongoStoreError && e.code === 'ERR_CONNECT_MONGO_TIMEOUT';

/**
 * `p`, or after `ms`: the error `timeout()` makes, or (without `timeout`) undefined. p's own later outcome is then
 * ignored (no unhandled rejection). The timer goes as soon as p settles.
 */
export function within<T>(p: Promise<T>, ms: number, timeout?: () => Error): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    const timer = setTimeout(() => (timeout ? reject(timeout()) : resolve(undefined)), Math.max(0, ms));
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

/**
 * The documents of `cursor`; each fetch from the server (the first batch, every getMore) must come within
 * `budget()` ms, else it fails with ERR_CONNECT_MONGO_TIMEOUT. The cursor is closed at the end, within `ms`; after a
 * fetch that timed out it is not waited for (a server that did not answer will not answer killCursors either, and
 * store.close() ends the client's connections).
 */
export async function* fetchedWithin<D>(cursor: FindCursor<D>, name: string, ms: number, budget: () => number): AsyncGenerator<D> {
  let stuck = false;
  try {
    for (;;) {
      // A document already fetched needs no timer (a million of them would make a million).
      const buffered = cursor.bufferedCount() > 0;
      const next = cursor.next();
      const doc = buffered ? await next : await within(next, budget(), () => timeoutError(name, ms, NO_ANSWER)).catch((e) => {
        stuck = isTimeout(e);
        throw e;
      });
      if (doc == null) return;
      yield doc;
    }
  } finally {
    const closed = cursor.close();
    if (stuck) closed.catch(() => {});
    else await within(closed, ms).catch(() => {});
  }
}

/**
 * Operations waiting for `promise`: one reaction on it serves them all (not one closure per call on a promise that
 * may never settle), and one that gives up leaves. Each waiter is called once the promise settled, either way.
 */
export class WaitQueue {
  /** the promise has settled and its waiters were called: nobody needs to queue any more */
  settled = false;
  private readonly waiters = new Set<() => void>();
  private attached = false;

  constructor(private readonly promise: Promise<unknown>) {}

  add(waiter: () => void) {
    if (!this.attached) {
      this.attached = true;
      const serve = () => {
        this.settled = true;
        const waiting = [...this.waiters];
        this.waiters.clear();
        for (const w of waiting) w();
      };
      this.promise.then(serve, serve);
    }
    this.waiters.add(waiter);
  }

  delete(waiter: () => void) {
    this.waiters.delete(waiter);
  }

  get size(): number {
    return this.waiters.size;
  }
}
