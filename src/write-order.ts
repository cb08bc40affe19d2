/**
 * The order of the writes of one session, kept by the server, so that a write reported as failed (timed out) that
 * still lands later cannot undo a later acknowledged write of the same session.
 *
 * Every set and destroy carries a stamp and lands only on a document whose stamp is not newer (the filter
 * `stamp: {$not: {$gt: mine}}`; a newer document makes the upsert's insert collide on _id: E11000). The stamp is a
 * hybrid clock: this process's wall clock in ms with a sub-ms part, never going back, and moved past any newer stamp
 * it meets. A destroy leaves a marker (no session, expired now, its stamp) that the expiry removes later, so that a
 * late save cannot bring a destroyed session back.
 *
 * Between instances the order follows their clocks: a late write of one instance loses to a later write of another
 * when their clocks agree to within the time between the two (operationTimeoutMS at least). A write that is still
 * live when it meets a newer stamp from a clock ahead of ours adopts that time and lands (never lost to clock skew).
 */
import type { Collection, UpdateFilter } from 'mongodb';
import type { SessionDocument } from '../generated';
import { isDuplicateKey } from './driver-errors';

/** the smallest step of the clock: doubles near 1.8e12 ms keep ~0.25 µs */
const STEP_MS = 0.001;
const UPSERT_ATTEMPTS = 5;

let last = 0;

/** A stamp later than every one this process gave or met. */
export function nextStamp(): number {
  last = Math.max(wallClock(), last + STEP_MS);
  return last;
}

function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/** The filter of a write stamped `stamp`: the session's document, unless a newer write is stored. */
export function olderThan(id: string, stamp: number) {
  return { _id: id, stamp: { $not: { $gt: stamp } } };
}

/** A destroy: the session goes, a marker stays (already expired, so no read, count or listing sees it). */
export function destroyUpdate(stamp: number, now: Date): UpdateFilter<SessionDocument> {
  return { $set: { stamp, expires: now }, $unset: { session: '', lastModified: '' } };
}

/** How a stamped write ended: it wrote (`created` when it inserted), or a newer write of the session was there. */
export type StampedResult = { created: boolean; superseded: boolean };

/**
 * Sends a stamped upsert of `id`; `update(stamp)` builds it. An E11000 means the stored document is newer, or that a
 * concurrent upsert inserted first (FerretDB and older servers do not retry that themselves): the stored stamp tells.
 * Newer and not ahead of our clock: a write called after ours landed first, ours is superseded (done, nothing to
 * write). Ahead of our clock: another instance's clock is ahead; a write still within its time takes that time and
 * lands. `options()` gives the driver options of each command (the time left, the write concern).
 */
export async function stampedUpsert(
  col: Collection<SessionDocument>,
  id: string,
  update: (stamp: number) => UpdateFilter<SessionDocument>,
  options: () => { timeoutMS?: number; writeConcern?: object },
): Promise<StampedResult> {
  let stamp = nextStamp();
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await col.updateOne(olderThan(id, stamp), update(stamp), { ...options(), upsert: true });
      return { created: res.upsertedCount > 0, superseded: false };
    } catch (e) {
      if (!isDuplicateKey(e) || attempt >= UPSERT_ATTEMPTS) throw e;
      const { writeConcern: _w, ...readOptions } = options();
      const stored = (await col.findOne({ _id: id }, { ...readOptions, projection: { stamp: 1 } }))?.stamp;
      // gone again, or no newer stamp (a concurrent insert): insert or update again
      if (typeof stored !== 'number' || !(stored > stamp)) continue;
      if (!Number.isFinite(stored)) {
        // a damaged stamp must not lock the session for good: this write replaces it
        const res = await col.updateOne({ _id: id }, update(nextStamp()), options());
        return { created: false, superseded: res.matchedCount === 0 };
      }
      last = Math.max(last, stored);
      if (stored <= wallClock()) return { created: false, superseded: true };
      stamp = nextStamp();
    }
  }
}
