/**
 * The order of the writes of one session, kept by the server, so that a write reported as failed (timed out) that
 * still lands later cannot undo a later acknowledged write of the same session.
 *
 * Every set and destroy carries a stamp and lands only on a document whose stamp is not newer (the filter
 * `stamp: {$not: {$gt: mine}}`; a newer document makes the upsert's insert collide on _id: E11000). The stamp is a
 * hybrid clock: this process's wall clock in ms with a sub-ms part, never going back, and moved past any newer stamp
 * it meets. A destroy leaves a marker (session: null, its stamp) that the expiry removes minutes later, so that a late
 * save cannot bring a destroyed session back; a clear() leaves one for every session (clearStamped). A touch does not
 * stamp: it lands only on a document not written after its time was up (session-doc.ts touchFilter).
 *
 * A write that meets a newer stamp while its caller still waits is superseded (as if it had landed just before) when
 * this process gave that stamp (after ours, so that write was under way after our call); one from another instance
 * is adopted and the write lands after it. Between instances the order follows their clocks: a late write of one
 * instance loses to a later write of another when their clocks agree to within the time between the two
 * (operationTimeoutMS at least).
 */
import { randomBytes } from 'node:crypto';
import type { Collection, UpdateFilter } from 'mongodb';
import type { SessionDocument } from '../generated';
import { isDuplicateKey } from './driver-errors';

/** the smallest step of the clock: doubles near 1.8e12 ms keep ~0.25 µs */
const STEP_MS = 0.001;
/** attempts of one write; each is bounded by the call's time left too */
const UPSERT_ATTEMPTS = 20;
/** the least time a destroyed session's marker is kept */
const MARKER_MIN_MS = 300_000;
/** a stored stamp further ahead of our clock than this is damaged, not another instance's clock */
const DAMAGED_AHEAD_MS = 86_400_000;

let last = 0;
/** how far our stamps run ahead of our wall clock: the most another instance's stamp was seen ahead of it */
let offset = 0;
/** this process's name on its stamps (random, says nothing of the host): a stamp of ours is ordered by our clock */
export const STAMPED_BY = randomBytes(6).toString('base64url');

/** A stamp later than every one this process gave or met. */
export function nextStamp(): number {
  last = Math.max(wallClock() + offset, last + STEP_MS);
  return last;
}

/**
 * Takes another instance's newer stamp: our clock then keeps running that far ahead (not only past that one stamp),
 * so that our next writes are ordered after that instance's writes of the same moment rather than meeting them again.
 */
function adopt(stamp: number) {
  offset = Math.max(offset, stamp - wallClock());
  if (stamp > last) last = stamp;
}

/**
 * A stamp after every one in `seen` (stored stamps: another instance's, its clock ahead of ours, are adopted; damaged
 * ones, not a number or a day ahead, are not).
 */
export function stampAfter(seen: unknown[]): number {
  const limit = wallClock() + DAMAGED_AHEAD_MS;
  for (const s of seen) if (typeof s === 'number' && s <= limit) adopt(s);
  return nextStamp();
}

function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/** The filter of a write stamped `stamp`: the session's document, unless a newer write is stored. */
export function notNewerThan(id: string, stamp: number) {
  return { _id: id, stamp: { $not: { $gt: stamp } } };
}

/** The filter of a clear stamped `stamp`: every document not written after it. */
export function writtenBefore(stamp: number) {
  return { stamp: { $not: { $gt: stamp } } };
}

/** the failed writes this process remembers for clear(), at most */
const LATE_IDS_MAX = 10_000;
/**
 * of each collection, the _ids whose last write failed or is under way (it may still land), each with the time until
 * which a clear() still leaves a marker for it (a destroy's marker lifetime; oldest first), and the user that write
 * gave it (its stored form: destroyUserSessions leaves a marker for it too)
 */
const lateIds = new Map<string, Map<string, { until: number; owner?: string | number | null }>>();

function mayLandLate(col: Collection<SessionDocument>, id: string, operationTimeoutMS: number, owner?: string | number | null) {
  let ids = lateIds.get(col.namespace);
  if (!ids) lateIds.set(col.namespace, (ids = new Map()));
  ids.delete(id);
  ids.set(id, { until: Date.now() + markerLifetime(operationTimeoutMS), owner });
  forgetPast(ids);
  if (ids.size > LATE_IDS_MAX) ids.delete(ids.keys().next().value!);
}

/** Forgets the failed writes past their time, from the oldest on: each fault's ids go once their time is up. */
function forgetPast(ids: Map<string, { until: number }>) {
  const now = Date.now();
  for (const [id, { until }] of ids) {
    if (until >= now) break;
    ids.delete(id);
  }
}

/**
 * The failed writes this process remembers for clear() (of one collection, or all), and how many were past their time
 * at `now` (Date.now() by default; they go with the next write after their time).
 */
export function lateWrites(namespace?: string, now = Date.now()): { remembered: number; past: number } {
  let remembered = 0;
  let past = 0;
  for (const [ns, ids] of lateIds) {
    if (namespace !== undefined && ns !== namespace) continue;
    remembered += ids.size;
    for (const { until } of ids.values()) if (until < now) past++;
  }
  return { remembered, past };
}

/**
 * clear(): every document not written after it becomes a destroyed session's marker (not a delete), so that a write
 * of a session still on its way lands on nothing (as after a destroy); so does each _id whose write failed (or is under
 * way) in this process within a marker's lifetime, since a late write of a session created then would find no document at all.
 * Its stamp is after the newest stored one: a session another instance wrote just before, its clock ahead of ours,
 * goes too. Answers that stamp.
 */
export async function clearStamped(
  col: Collection<SessionDocument>,
  options: () => { timeoutMS?: number; writeConcern?: object },
  operationTimeoutMS: number,
): Promise<number> {
  const { writeConcern: _w, ...readOptions } = options();
  const newest = await col.findOne(
    { stamp: { $lte: wallClock() + DAMAGED_AHEAD_MS } },
    { ...readOptions, readPreference: 'primary', sort: { stamp: -1 }, projection: { stamp: 1 } },
  );
  if (typeof newest?.stamp === 'number') adopt(newest.stamp);
  const stamp = nextStamp();
  const now = new Date();
  const marker = destroyUpdate(stamp, now, operationTimeoutMS);
  await col.updateMany(writtenBefore(stamp), marker, options());
  const ids = lateIds.get(col.namespace);
  if (ids) forgetPast(ids);
  const late = [...(ids?.keys() ?? [])];
  if (late.length === 0) return stamp;
  await upsertMarkers(col, late.map((id) => notNewerThan(id, stamp)), marker, options);
  return stamp;
}

/** The failed writes of `owners`' sessions this process remembers (within a marker's lifetime), but `except`. */
export function lateIdsOf(col: Collection<SessionDocument>, owners: Array<string | number>, except: string[]): string[] {
  const ids = lateIds.get(col.namespace);
  if (ids) forgetPast(ids);
  return [...(ids ?? [])].filter(([id, w]) => w.owner != null && owners.includes(w.owner) && !except.includes(id)).map(([id]) => id);
}

/**
 * destroyUserSessions(): a marker for each failed write of the user's sessions where the session is not stored (yet),
 * so that a log-in reported as failed cannot land after the call; a stored session is left to the call's own read.
 */
export async function markAbsent(col: Collection<SessionDocument>, ids: string[], options: () => { timeoutMS?: number; writeConcern?: object }, operationTimeoutMS: number): Promise<void> {
  const stamp = nextStamp();
  await upsertMarkers(col, ids.map((id) => ({ ...notNewerThan(id, stamp), session: null })), destroyUpdate(stamp, new Date(), operationTimeoutMS), options);
}

async function upsertMarkers(col: Collection<SessionDocument>, filters: object[], marker: UpdateFilter<SessionDocument>, options: () => { timeoutMS?: number; writeConcern?: object }) {
  const upserts = filters.map((filter) => ({ updateOne: { filter, update: marker, upsert: true } }));
  // a document the filter does not take (E11000: newer, or a stored session) stays
  await col.bulkWrite(upserts, { ...options(), ordered: false }).catch((e) => {
    const errors = (e as { writeErrors?: Array<{ code?: number }> }).writeErrors;
    const onlyNewer = isDuplicateKey(e) && Array.isArray(errors) && errors.every((w) => w.code === 11000) && !(e as { writeConcernError?: unknown }).writeConcernError;
    if (!onlyNewer) throw e;
  });
}

function markerLifetime(operationTimeoutMS: number): number {
  return Math.max(MARKER_MIN_MS, 2 * operationTimeoutMS);
}

/**
 * A destroy: the session goes, a marker stays (no read, count or listing sees one) until `expires`, when the expiry
 * removes it like a session: long enough for any write of the session still on its way (each is bounded by
 * operationTimeoutMS) to meet it, and to outlive a TTL monitor run (every 60 s) that would remove it at once.
 */
export function destroyUpdate(stamp: number, now: Date, operationTimeoutMS: number): UpdateFilter<SessionDocument> {
  const expires = new Date(now.getTime() + markerLifetime(operationTimeoutMS));
  // session: null, not absent: connect-mongo 6 on the same collection reads that as "no session" too
  // no userId: a marker is nobody's session (a set of that sid again is one that moved to its user: write-order's `moved`)
  return { $set: { stamp, stampedBy: STAMPED_BY, expires, session: null }, $unset: { lastModified: '', userId: '' } };
}

/** What a stamped upsert did: inserted the document; or (with an owner) found it under another user, or none, and moved it. */
export interface Upserted {
  created: boolean;
  moved: boolean;
  /** the stamp it landed with; undefined when a later write of this process superseded it */
  stamp?: number;
}

/**
 * Sends a stamped upsert of `id`; `update(stamp)` builds it; answers whether it inserted. With `owner` (the session's
 * user id as stored) the filter asks for that owner too: a session stored under another user, or under none, collides
 * like a newer one (E11000), and the stored document, read then, tells that it moved (rare: a log-in without
 * regenerate); the write then lands without that condition. So a set of a logged-in session costs one command. An E11000 means the stored
 * document is newer (a concurrent write landed first, or a clock ahead of ours stamped it) or that a concurrent upsert
 * inserted first (FerretDB and older servers do not retry that themselves): the stored stamp tells which.
 * `options()` gives each command's driver options (the time left; it throws once none is left, so nothing is sent
 * again for a caller that was told it timed out).
 */
export async function stampedUpsert(
  col: Collection<SessionDocument>,
  id: string,
  update: (stamp: number) => UpdateFilter<SessionDocument>,
  options: () => { timeoutMS?: number; writeConcern?: object },
  operationTimeoutMS: number,
  owner?: string | number | null,
): Promise<Upserted> {
  let done: Upserted;
  // remembered before it is sent: its caller may be told it timed out (operations.ts) before the driver gives up
  mayLandLate(col, id, operationTimeoutMS, owner);
  try {
    done = await upsertInOrder(col, id, update, options, owner ?? undefined);
  } catch (e) {
    mayLandLate(col, id, operationTimeoutMS, owner); // its bytes may be on their way still: a clear() leaves a marker for it (clearStamped)
    throw e;
  }
  // it landed (or a newer write is stored): no earlier write of the id can land over that stamp any more
  const ids = lateIds.get(col.namespace);
  ids?.delete(id);
  // the ids of a fault gone by go with the writes after it, not only with the next failure
  if (ids?.size) forgetPast(ids);
  return done;
}

async function upsertInOrder(
  col: Collection<SessionDocument>,
  id: string,
  update: (stamp: number) => UpdateFilter<SessionDocument>,
  options: () => { timeoutMS?: number; writeConcern?: object },
  owner: string | number | undefined,
): Promise<Upserted> {
  let stamp = nextStamp();
  let moved = false;
  for (let attempt = 1; ; attempt++) {
    try {
      const filter = owner === undefined ? notNewerThan(id, stamp) : { ...notNewerThan(id, stamp), userId: owner };
      const res = await col.updateOne(filter, update(stamp), { ...options(), upsert: true });
      return { created: res.upsertedCount > 0, moved: moved && res.upsertedCount === 0, stamp };
    } catch (e) {
      if (!isDuplicateKey(e) || attempt >= UPSERT_ATTEMPTS) throw e;
      const { writeConcern: _w, ...readOptions } = options();
      const found = await col.findOne({ _id: id }, { ...readOptions, projection: { stamp: 1, stampedBy: 1, userId: 1 } });
      if (found && owner !== undefined && found.userId !== owner) {
        // stored under another user (or none): not the collision of a newer write, unless its stamp says so too
        owner = undefined;
        moved = true;
      }
      const stored = found?.stamp;
      // not a number (an array's element can be $gt ours for ever), or a day ahead: damaged
      if ((stored !== undefined && typeof stored !== 'number') || (typeof stored === 'number' && stored > wallClock() + DAMAGED_AHEAD_MS)) {
        // a damaged stamp (no clock is a day ahead) must neither lock the session nor move our clock: replace it, on
        // that very stamp (a late replace must not land over a later write), or try again
        const replaced = nextStamp();
        const res = await col.updateOne({ _id: id, stamp: stored }, update(replaced), options());
        if (res.matchedCount) return { created: false, moved, stamp: replaced };
        stamp = nextStamp();
        continue;
      }
      if (typeof stored !== 'number' || !(stored > stamp)) {
        stamp = nextStamp(); // no newer write: a concurrent upsert inserted first; update it
        continue;
      }
      // A newer write landed while ours was on its way. Stamped by this process after ours: it was under way after our
      // call, so ours may be ordered just before it: superseded, done. Stamped by another instance: its clock says
      // nothing of when it was called against ours, so ours takes a later stamp and lands (no acknowledged write is
      // lost to clock skew), as concurrent writes do on mongod.
      if (found?.stampedBy === STAMPED_BY) return { created: false, moved: false };
      adopt(stored);
      stamp = nextStamp();
    }
  }
}
