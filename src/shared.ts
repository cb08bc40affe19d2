/**
 * The sharing of one store's concurrent work on a session: get()s of one _id called in the same turn of the event
 * loop share one find, and touches of one _id with about the same expiry share one update. A page load whose
 * requests arrive together (a document and its assets, one cookie) then costs fewer commands.
 *
 * The invariant: a call is answered by a command sent after it was made. Work is joined only while it is not yet
 * sent: calls queue here, and each turn of the event loop sends one command for all callers of one _id. So no answer
 * is older than its call, whichever store or instance wrote in between: an awaited sequence of calls reads its own
 * writes, a get after another instance's acknowledged write sees it, and a touch after a destroy finds nothing. The
 * queues hold only what waits for the next turn.
 */
import { BSON } from 'mongodb';

/** touches of one session within this of one another's expiry share one write (a cookie's Expires has 1 s precision) */
export const TOUCH_SHARE_MS = 1000;

/** Work not yet sent: the callers that share it, the command to send, and what each caller gets. */
interface Batch<T> {
  callers: number;
  send: () => Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  result: Promise<T>;
}

interface TouchBatch extends Batch<unknown> {
  expires: number;
}

export class SharedWork<D extends object> {
  private readonly reads = new Map<string, Batch<D | null> & { copies: Array<D | null | undefined> }>();
  /** this turn's touch batches of each _id, one for each expiry further than TOUCH_SHARE_MS from the others */
  private readonly touches = new Map<string, TouchBatch[]>();
  /** the batches to send at the next turn, in the order they were made */
  private queue: Array<Batch<any>> = [];

  /**
   * The document of _id `id`, from a find sent at the next turn of the event loop for every caller of this turn. The
   * first caller gets the driver's document, every other one a BSON copy made before anyone reads it, so that no two
   * callers share an object.
   */
  read(id: string, find: () => Promise<D | null>): Promise<D | null> {
    const joined = this.reads.get(id);
    if (joined) {
      joined.callers++;
      // a caller whose copy could not be made (another driver copy's types) reads for itself
      return joined.result.then(() => {
        const copy = joined.copies.pop();
        return copy === undefined ? find() : copy;
      });
    }
    const batch = Object.assign(this.batch(find), { copies: [] as Array<D | null | undefined> });
    // copies are made when the find answers, before any caller resumes
    batch.result = batch.result.then((doc) => {
      for (let i = 1; i < batch.callers; i++) batch.copies.push(copyOf(doc));
      return doc;
    });
    this.reads.set(id, batch);
    return batch.result;
  }

  /**
   * The answer of a touch of `id` asking for `expires` (ms since the epoch): one update sent at the next turn for
   * every touch of this turn asking for an expiry within TOUCH_SHARE_MS of the first. Each caller gets the answer (and
   * emits its own event).
   */
  touch<T>(id: string, expires: number, send: () => Promise<T>): Promise<T> {
    const batches = this.touches.get(id);
    const joined = batches?.find((b) => Math.abs(b.expires - expires) <= TOUCH_SHARE_MS);
    if (joined) {
      joined.callers++;
      return joined.result as Promise<T>;
    }
    const batch = Object.assign(this.batch(send), { expires });
    if (batches) batches.push(batch as TouchBatch);
    else this.touches.set(id, [batch as TouchBatch]);
    return batch.result;
  }

  /** How much waits for the next turn, for tests and leak checks. */
  get size(): { reads: number; touches: number; queued: number } {
    return { reads: this.reads.size, touches: this.touches.size, queued: this.queue.length };
  }

  /** A batch of `send`, queued for the next turn. */
  private batch<T>(send: () => Promise<T>): Batch<T> {
    const batch = { callers: 1, send } as Batch<T>;
    batch.result = new Promise<T>((resolve, reject) => {
      batch.resolve = resolve;
      batch.reject = reject;
    });
    if (this.queue.push(batch) === 1) setImmediate(() => this.flush());
    return batch;
  }

  /** Sends every queued batch; from here on, later calls make new batches. */
  private flush() {
    const queue = this.queue;
    this.queue = [];
    this.reads.clear();
    this.touches.clear();
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
