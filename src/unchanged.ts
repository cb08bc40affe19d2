/**
 * Which sets change nothing but the expiry. Frameworks save sessions they did not change: @fastify/session calls
 * set() on every response with `rolling` (its default), express-session with `resave: true`. Such a set costs only
 * the expiry, as a touch does, when the session's JSON, but for its cookie's `expires`, is the one this store last
 * wrote for that _id and the document still holds that write (its stamp, write-order.ts, and the very value it
 * stored): the update of the expiry asks for both, so it is exactly the full write it replaces; if anything wrote the
 * session since (another instance, a destroy, connect-mongo 6, which does not stamp, a hand edit), it matches nothing
 * and the set is a full write after all. Each write's digest and stored value are kept here with its stamp, so that
 * of concurrent writes the one ordered last is the one remembered.
 *
 * Bounded: at most MAX_ENTRIES _ids and MAX_CHARS characters of stored values (the least recently written go first),
 * each for AGE_MS. Only JSON text is digested
 * (stringify: true, the default, or a serialize answering a string); reads are not (no hashing on get's hot path),
 * so the first unchanged set after an instance only read a session is a full write.
 */
import { hash } from 'node:crypto';

/** the _ids remembered, at most (about 440 bytes each with a 140-character session: 4.4 MB; test/unchanged.test.ts) */
export const MAX_ENTRIES = 10_000;
/** how long a write's digest is trusted */
export const AGE_MS = 10 * 60_000;
/** the longest stored value kept (a session's JSON or ciphertext): a longer session is always written in full */
export const MAX_STORED_CHARS = 4096;
/** the characters of stored values kept in all: 2M (4 MB at most), whatever the sessions' sizes */
export const MAX_CHARS = 2_000_000;

/**
 * express-session's and @fastify/session's JSON of a session begins with its cookie, a flat object: its `expires` is
 * what a resave changes (and what the document's own `expires` holds). @fastify/session's cookie also carries
 * `originalExpires`, the `expires` it was read with, so it changes with every save too; @fastify/session never reads it
 * back (it takes a read cookie's `expires`), and an expiry-only update leaves the stored one as it was.
 */
const COOKIE = /^\{"cookie":\{[^{}]*\}/;
const EXPIRY_FIELDS = /"(?:expires|originalExpires)":(?:"[^"]*"|null),?/g;

/** The digest of a session's JSON without its cookie's expires (and originalExpires). */
export function digestOf(json: string): string {
  const text = json.replace(COOKIE, (cookie) => cookie.replace(EXPIRY_FIELDS, ''));
  return hash('sha256', text, 'base64url'); // one call, no Hash object: a set's hot path (Node ≥ 20.12)
}

interface Entry {
  /** undefined: forgotten at `stamp` (a destroy, a clear): an older write's digest must not come back */
  digest?: string;
  /** the value that write stored (JSON or ciphertext), which the update of the expiry asks the document still to hold */
  stored?: string;
  stamp: number;
  at: number;
}

export class Unchanged {
  private readonly seen = new Map<string, Entry>();
  /** a clear()'s stamp: writes before it are forgotten */
  private floor = 0;
  /** the characters of the stored values kept, at most MAX_CHARS */
  private chars = 0;

  /** The last write of `id` this store knows (within AGE_MS) when its digest is `digest`: its stamp and stored value. */
  lastWrite(id: string, digest: string): { stamp: number; stored: string } | undefined {
    const e = this.seen.get(id);
    if (!e?.digest || e.stored === undefined) return undefined;
    if (Date.now() - e.at > AGE_MS) {
      this.drop(id, e);
      return undefined;
    }
    return e.digest === digest ? { stamp: e.stamp, stored: e.stored } : undefined;
  }

  /**
   * A write of `id` that stored `stored` landed with `stamp` (digest undefined: `id` was destroyed, or what is stored
   * is unknown, at `stamp`).
   */
  remember(id: string, digest: string | undefined, stored: unknown, stamp: number) {
    if (stamp <= this.floor) return;
    const e = this.seen.get(id);
    if (e && e.stamp >= stamp) return; // a later write (or destroy) of it is known already
    if (e) this.drop(id, e);
    const kept = digest !== undefined && typeof stored === 'string' && stored.length <= MAX_STORED_CHARS ? stored : undefined;
    this.seen.set(id, { digest: kept === undefined ? undefined : digest, stored: kept, stamp, at: Date.now() });
    this.chars += kept?.length ?? 0;
    while (this.seen.size > MAX_ENTRIES || this.chars > MAX_CHARS) {
      const [oldest, entry] = this.seen.entries().next().value!;
      this.drop(oldest, entry);
    }
  }

  /** clear(): every write before `stamp` is forgotten. */
  forgetBefore(stamp: number) {
    this.floor = Math.max(this.floor, stamp);
    this.seen.clear();
    this.chars = 0;
  }

  get size(): number {
    return this.seen.size;
  }

  private drop(id: string, e: Entry) {
    this.seen.delete(id);
    this.chars -= e.stored?.length ?? 0;
  }
}
