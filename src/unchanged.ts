/**
 * Which sets change nothing but the expiry. Frameworks save sessions they did not change: @fastify/session calls
 * set() on every response with `rolling` (its default), express-session with `resave: true`. Such a set costs only
 * the expiry, as a touch does, when the session's JSON, but for its cookie's `expires`, is the one this store last
 * wrote for that _id and the document is still that write (its stamp, write-order.ts): the update of the expiry is
 * conditional on that stamp, so it is exactly the full write it replaces; if anything wrote the session since
 * (another instance, a destroy), it matches nothing and the set is a full write after all. The digest of each write
 * is kept here with its stamp, so that of concurrent writes the one ordered last is the one remembered.
 *
 * Bounded: at most MAX_ENTRIES _ids (the least recently written go first) and each for AGE_MS, so that a session
 * another instance wrote since is compared again with a full write at least that often. Only JSON text is digested
 * (stringify: true, the default, or a serialize answering a string); reads are not (no hashing on get's hot path),
 * so the first unchanged set after an instance only read a session is a full write.
 */
import { createHash } from 'node:crypto';

/** the _ids remembered, at most (about 230 bytes each, a 40-character id: 10,000 take 2.3 MB; test/unchanged.test.ts) */
export const MAX_ENTRIES = 10_000;
/** how long a write's digest is trusted */
export const AGE_MS = 10 * 60_000;

/**
 * express-session's and @fastify/session's JSON of a session begins with its cookie, a flat object: its `expires`
 * is what a resave changes (and what the document's own `expires` holds).
 */
const COOKIE_EXPIRES = /^(\{"cookie":\{[^{}]*?)"expires":(?:"[^"]*"|null)/;

/** The digest of a session's JSON without its cookie's expires. */
export function digestOf(json: string): string {
  return createHash('sha256').update(json.replace(COOKIE_EXPIRES, '$1')).digest('base64url');
}

interface Entry {
  /** undefined: forgotten at `stamp` (a destroy, a clear): an older write's digest must not come back */
  digest?: string;
  stamp: number;
  at: number;
}

export class Unchanged {
  private readonly seen = new Map<string, Entry>();
  /** a clear()'s stamp: writes before it are forgotten */
  private floor = 0;

  /** The stamp of the last write of `id` this store knows when its digest is `digest` (within AGE_MS), else undefined. */
  stampOf(id: string, digest: string): number | undefined {
    const e = this.seen.get(id);
    if (!e?.digest) return undefined;
    if (Date.now() - e.at > AGE_MS) {
      this.seen.delete(id);
      return undefined;
    }
    return e.digest === digest ? e.stamp : undefined;
  }

  /** A write of `id` with `digest` landed with `stamp` (or, digest undefined, `id` was destroyed at `stamp`). */
  remember(id: string, digest: string | undefined, stamp: number) {
    if (stamp <= this.floor) return;
    const e = this.seen.get(id);
    if (e && e.stamp >= stamp) return; // a later write (or destroy) of it is known already
    this.seen.delete(id);
    this.seen.set(id, { digest, stamp, at: Date.now() });
    if (this.seen.size > MAX_ENTRIES) this.seen.delete(this.seen.keys().next().value!);
  }

  /** clear(): every write before `stamp` is forgotten. */
  forgetBefore(stamp: number) {
    this.floor = Math.max(this.floor, stamp);
    this.seen.clear();
  }

  get size(): number {
    return this.seen.size;
  }
}
