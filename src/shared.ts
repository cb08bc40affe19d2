/**
 * The sharing of one store's concurrent work on a session: get()s of one _id called together share one find, and
 * touches of one _id with about the same expiry share one update. A page load whose requests arrive together (a
 * document and its assets, one cookie) then costs fewer commands.
 *
 * The invariant: a call is answered by a command sent after it was made. Work is joined only while it is not yet
 * sent: calls queue here, and one command is sent for all callers of one _id. So no answer is older than its call,
 * whichever store or instance wrote in between: an awaited sequence of calls reads its own writes, a get after another
 * instance's acknowledged write sees it, and a touch after a destroy finds nothing. The queues hold only what waits.
 *
 * When it is sent: a call of an _id called within BURST_MS before (the requests of a page after its document) waits
 * for the end of the event loop's turn, so that every request of the burst that arrived in that turn shares it; any
 * other call is sent at the end of its own task (with the calls made in that same task), without waiting for a turn
 * of the loop, which cost a lone get 30–60 µs of client CPU (scripts/bench/analysis.md, "Writes").
 */
import { BSON } from 'mongodb';
import { isTimeout } from './bounds';

/** touches of one session within this of one another's expiry share one write (a cookie's Expires has 1 s precision) */
export const TOUCH_SHARE_MS = 1000;
/** a call of an _id within this of the last call of its kind waits for the end of the turn (a burst), others do not */
export const BURST_MS = 250;

/** Work not yet sent: the callers that share it, the command to send, and what each caller gets. */
interface Batch<T> {
  callers: number;
  send: () => Promise<T>;
  /** takes it out of the map later calls join by: it is being sent */
  forget: () => void;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  result: Promise<T>;
}

interface TouchBatch extends Batch<unknown> {
  expires: number;
}

export class SharedWork<D extends object> {
  private readonly reads = new Map<string, Batch<D | null> & { copies: Array<D | null | undefined> }>();
  /** the touch batches not sent yet of each _id, one for each expiry further than TOUCH_SHARE_MS from the others */
  private readonly touches = new Map<string, TouchBatch[]>();
  /** the batches to send at the end of this task, and at the end of this turn of the event loop, in order made */
  private endOfTask: Array<Batch<any>> = [];
  private endOfTurn: Array<Batch<any>> = [];
  private readonly lastRead = new LastCalls();
  private readonly lastTouch = new LastCalls();

  /**
   * The document of _id `id`, from a find sent for every caller that joins it before it is sent. The first caller gets
   * the driver's document, every other one a BSON copy made before anyone reads it, so that no two callers share an
   * object.
   */
  read(id: string, find: () => Promise<D | null>): Promise<D | null> {
    const joined = this.reads.get(id);
    if (joined) {
      joined.callers++;
      // a caller whose copy could not be made (another driver copy's types) reads for itself
      return joined.result.then(
        () => {
          const copy = joined.copies.pop();
          return copy === undefined ? find() : copy;
        },
        (e) => ownRetry(e, find),
      );
    }
    const batch = Object.assign(
      this.batch(find, this.lastRead.within(id), () => this.reads.get(id) === batch && this.reads.delete(id)),
      { copies: [] as Array<D | null | undefined> },
    );
    // copies are made when the find answers, before any caller resumes
    batch.result = batch.result.then((doc) => {
      for (let i = 1; i < batch.callers; i++) batch.copies.push(copyOf(doc));
      return doc;
    });
    this.reads.set(id, batch);
    return batch.result;
  }

  /**
   * The answer of a touch of `id` asking for `expires` (ms since the epoch), or of the update of the expiry of an
   * unchanged set of `write` (that write's stamp): one update for every such call that joins it before it is sent,
   * asking for an expiry within TOUCH_SHARE_MS of the first. Each caller gets the answer (and emits its own event).
   */
  touch<T>(id: string, write: number | undefined, expires: number, send: () => Promise<T>): Promise<T> {
    const burst = this.lastTouch.within(id);
    // an unchanged set's update asks for that write's stamp: shared with the same set only (a lone surrogate is in no sid)
    if (write !== undefined) id = `${id}\uD800${write}`;
    const batches = this.touches.get(id);
    const joined = batches?.find((b) => Math.abs(b.expires - expires) <= TOUCH_SHARE_MS);
    if (joined) {
      joined.callers++;
      return (joined.result as Promise<T>).then(undefined, (e) => ownRetry(e, send));
    }
    const forget = () => {
      const left = this.touches.get(id)?.filter((b) => b !== batch);
      if (left?.length) this.touches.set(id, left);
      else this.touches.delete(id);
    };
    const batch = Object.assign(this.batch(send, burst, forget), { expires });
    if (batches) batches.push(batch as TouchBatch);
    else this.touches.set(id, [batch as TouchBatch]);
    return batch.result;
  }

  /** A write of `id` (a set, a destroy): the reads and updates of the expiry right after it are a burst's (a page's requests). */
  wrote(id: string) {
    this.lastRead.within(id);
    this.lastTouch.within(id);
  }

  /** How much waits to be sent, and how many _ids' last calls are remembered (BURST_MS), for tests and leak checks. */
  get size(): { reads: number; touches: number; queued: number; remembered: number } {
    return { reads: this.reads.size, touches: this.touches.size, queued: this.endOfTask.length + this.endOfTurn.length, remembered: this.lastRead.size + this.lastTouch.size };
  }

  /** A batch of `send`, queued until the end of this task, or of this turn when `burst` (its _id was called just before). */
  private batch<T>(send: () => Promise<T>, burst: boolean, forget: () => void): Batch<T> {
    const batch = { callers: 1, send, forget } as Batch<T>;
    batch.result = new Promise<T>((resolve, reject) => {
      batch.resolve = resolve;
      batch.reject = reject;
    });
    if (burst) {
      if (this.endOfTurn.push(batch) === 1) setImmediate(() => this.flush('endOfTurn'));
    } else if (this.endOfTask.push(batch) === 1) queueMicrotask(() => this.flush('endOfTask'));
    return batch;
  }

  /** Sends the batches of one queue; from here on, later calls of their _ids make new batches. */
  private flush(which: 'endOfTask' | 'endOfTurn') {
    const queue = this[which];
    this[which] = [];
    for (const batch of queue) batch.forget();
    for (const batch of queue) {
      let sent: Promise<unknown>;
      try {
        sent = batch.send();
      } catch (e) {
        sent = Promise.reject(e);
      }
      sent.then(batch.resolve, batch.reject);
    }
  }
}

/**
 * A joined call whose shared command failed with the first caller's timeout (its deadline passed before the command
 * went out, or its signal aborted it) was not timed out itself: it sends its own, within its own deadline. Any other
 * failure is every caller's.
 */
function ownRetry<T>(e: unknown, send: () => Promise<T>): Promise<T> {
  if (isTimeout(e)) return send();
  throw e;
}

/** When each _id was last called (performance.now()), for BURST_MS: oldest first, so the past ones go from the front. */
class LastCalls {
  private readonly at = new Map<string, number>();

  /** Was `id` called within BURST_MS? Remembers this call. */
  within(id: string): boolean {
    const now = performance.now();
    const last = this.at.get(id);
    if (last !== undefined) this.at.delete(id);
    this.at.set(id, now);
    for (const [k, t] of this.at) {
      if (now - t <= BURST_MS) break;
      this.at.delete(k);
    }
    return last !== undefined && now - last <= BURST_MS;
  }

  get size(): number {
    return this.at.size;
  }
}

/**
 * A joined caller's own copy of the document, or undefined (that caller then reads for itself): values from another
 * copy of the driver (an app's mongodb 5 client, mongoose's) may be types our BSON refuses to encode.
 */
function copyOf<D extends object>(doc: D | null): D | null | undefined {
  if (!doc) return doc;
  try {
    return BSON.deserialize(BSON.serialize(doc)) as D;
  } catch {
    return undefined;
  }
}
