/**
 * The sharing of one store's concurrent work on a session: concurrent get()s of one _id share one find, and touches
 * of one _id close in time and expiry share one update. A page load (a document and its 8 assets, one cookie) then
 * costs about 4 commands instead of 18.
 *
 * The invariant, which every rule below serves:
 *  1. An awaited sequence of calls on one store reads its own writes: a read is joined only if no write of its _id
 *     (nor a clear) started since the read was sent; a write forgets what was shared for its _id when it starts and
 *     again when it settles.
 *  2. No touch is shared across a write of the same session: a touch is shared only while no write of its _id started
 *     after it was sent; one that was sent while another write of its _id was under way may land before or after that
 *     write, so it is shared only until it is done.
 *  3. The maps hold only work under way, and touches of the last TOUCH_SHARE_MS: nothing grows with the number of
 *     sessions ever seen.
 * The store calls read/touch/write/clear with the driver call to make; which call is sent, and when, is decided here.
 */
import { BSON } from 'mongodb';

/** touches of one session this close in time and expiry share one write */
export const TOUCH_SHARE_MS = 1000;
/** the key of clear() in the map of writes under way: a write of every _id */
const ALL_IDS = Symbol('all ids');

/** A find under way that concurrent reads share: how many callers wait on it, and a copy for each joined one. */
interface SharedRead<D> {
  callers: number;
  sent: number;
  /** the driver's document, for the caller that started the read */
  doc: Promise<D | null>;
  /** one copy per joined caller, made when the read settles; undefined: that copy could not be made, it reads for itself */
  copies: Array<D | null | undefined>;
}

/** A touch write that later touches of the same session within TOUCH_SHARE_MS share. */
interface SharedTouch {
  sent: number;
  expires: number;
  result: Promise<unknown>;
}

export class SharedWork<D extends object> {
  private readonly reads = new Map<string, SharedRead<D>>();
  private readonly touches = new Map<string, SharedTouch>();
  /** writes under way by _id (ALL_IDS: clear), so that a touch knows it was sent while another write was */
  private readonly writes = new Map<string | symbol, number>();

  /** @param maxReadAgeMs a read older than this is not joined (one stuck on a dead socket must not hold up later reads) */
  constructor(private readonly maxReadAgeMs: number) {}

  /**
   * The document of _id `id`: the answer of a find of it already under way, or of `find()`. The first caller gets the
   * driver's document, every joined one a BSON copy made before anyone reads it, so no two callers share an object.
   */
  read(id: string, find: () => Promise<D | null>): Promise<D | null> {
    const joined = this.reads.get(id);
    if (joined && performance.now() - joined.sent < this.maxReadAgeMs) {
      joined.callers++;
      // a joined caller whose copy could not be made (another driver copy's types) reads for itself
      return joined.doc.then(() => {
        const copy = joined.copies.pop();
        return copy === undefined ? find() : copy;
      });
    }
    const read: SharedRead<D> = { callers: 1, sent: performance.now(), doc: undefined!, copies: [] };
    const settled = () => this.reads.get(id) === read && this.reads.delete(id);
    // Copies are made here, before any caller resumes: callers joined after this point start a read of their own.
    read.doc = find().then(
      (doc) => {
        settled();
        for (let i = 1; i < read.callers; i++) read.copies.push(copyOf(doc));
        return doc;
      },
      (e) => {
        settled();
        throw e;
      },
    );
    this.reads.set(id, read);
    return read.doc; // the first caller: the driver's own promise (no promise more on the common, unshared path)
  }

  /**
   * The answer of a touch of `id` asking for `expires` (ms since the epoch): that of a touch of the same _id sent less
   * than TOUCH_SHARE_MS ago with an expiry within TOUCH_SHARE_MS (under way or done), or of `send()`. A cookie's
   * `Expires` has one-second precision anyway. Each caller still gets the answer (and emits its own event).
   */
  touch<T>(id: string, expires: number, send: () => Promise<T>): Promise<T> {
    const now = performance.now(); // monotonic: a wall clock set back must not keep old entries "recent"
    const earlier = this.touches.get(id);
    if (earlier && now - earlier.sent < TOUCH_SHARE_MS && Math.abs(earlier.expires - expires) <= TOUCH_SHARE_MS) return earlier.result as Promise<T>;
    // Map keeps insertion order, and a touch is re-inserted at the end: the oldest go first.
    for (const [key, old] of this.touches) {
      if (now - old.sent < TOUCH_SHARE_MS) break;
      this.touches.delete(key);
    }
    const overlapped = this.writing(id);
    const entry: SharedTouch = { sent: now, expires, result: undefined! };
    const done = () => this.touches.get(id) === entry && this.touches.delete(id);
    const result = this.track(id, send, 'touch').then(
      (v) => {
        if (overlapped) done();
        return v;
      },
      (e) => {
        done(); // a failed write is shared with nobody later
        throw e;
      },
    );
    entry.result = result;
    // After track() has started (it forgets what was shared for this _id), so that this entry stays.
    this.touches.delete(id);
    this.touches.set(id, entry);
    return result;
  }

  /** `send()`, a write of `id` (set, destroy): no read or touch sent before it is shared from its start on. */
  write<T>(id: string, send: () => Promise<T>): Promise<T> {
    return this.track(id, send);
  }

  /** `send()`, a write of every _id (clear). */
  clear<T>(send: () => Promise<T>): Promise<T> {
    return this.track(undefined, send);
  }

  /** How much is held, for tests and leak checks. */
  get size(): { reads: number; touches: number; writes: number } {
    return { reads: this.reads.size, touches: this.touches.size, writes: this.writes.size };
  }

  /**
   * A write's promise (of the _id; of all _ids when undefined). From its start and again once it settles, no read
   * begun before is joined and no touch sent before is shared: either may have been answered before this write
   * landed. A touch's own write leaves the touches alone when it settles (later touches may share it).
   */
  private async track<T>(id: string | undefined, send: () => Promise<T>, kind?: 'touch'): Promise<T> {
    this.forget(id);
    const key = id ?? ALL_IDS;
    this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
    try {
      return await send();
    } finally {
      const left = this.writes.get(key)! - 1;
      if (left) this.writes.set(key, left);
      else this.writes.delete(key);
      if (kind === 'touch') forget(this.reads, id);
      else this.forget(id);
    }
  }

  /** A write of the _id (or a clear) is under way. */
  private writing(id: string): boolean {
    return this.writes.size > 0 && (this.writes.has(id) || this.writes.has(ALL_IDS));
  }

  private forget(id: string | undefined) {
    forget(this.reads, id);
    forget(this.touches, id);
  }
}

function forget(map: Map<string, unknown>, id: string | undefined) {
  if (id === undefined) map.clear();
  else map.delete(id);
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
