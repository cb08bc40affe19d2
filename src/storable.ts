/**
 * What a session may hold to be stored, checked before anything is sent. A session that goes as a BSON document
 * (stringify: false, or an app's serialize answering an object) must be one that every server the store supports
 * keeps as it was given: FerretDB drops the whole connection on a NaN, a Decimal128, MinKey/MaxKey, Code or a BSON
 * Symbol (the store would emit `disconnect`, and express-session would serve every other user's request without a
 * session), and refuses ±Infinity, `$` or `.` in keys and arrays directly inside arrays with an error quoting the
 * document; mongod refuses more than 100 levels, documents over 16 MB, and `$`/`.` keys in some updates or before
 * 5.0; BSON cannot hold a NUL in a key; FerretDB on PostgreSQL cannot hold one in a string. Refused everywhere, so a
 * store behaves the same on every server. The default (stringify: true, JSON) has none of these limits.
 *
 * Messages name the kind of problem and where, with keys masked (`session.<key 2>[0]`): keys may be user data.
 */
import { BSON } from 'mongodb';

/** The session object is level 1 and sits one level down in the stored document: 99 levels, under mongod's 100. */
export const MAX_DEPTH = 98;
/** MongoDB's largest document. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
/** The stored document's other fields (_id apart): expires, lastModified, createdAt, updatedAt and the framing. */
const DOCUMENT_OVERHEAD = 256;

/** BSON types that FerretDB cannot store: sending one makes it close the connection. */
const UNSTORABLE_BSON = new Set(['Decimal128', 'MinKey', 'MaxKey', 'Code', 'BSONSymbol', 'Symbol', 'DBRef']);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Where a problem is: an array index as it is, the i-th key (from 0) of an object as ~i, so no key text is kept. */
type Path = number[];

/** `session.<key 2>[0].<key 1>`: a key is shown by its position, never its text; long paths keep both ends. */
export function maskedPath(path: Path): string {
  const seg = (p: number) => (p >= 0 ? `[${p}]` : `.<key ${~p + 1}>`);
  const shown = path.length > 12 ? [...path.slice(0, 6).map(seg), '…', ...path.slice(-5).map(seg)] : path.map(seg);
  return `session${shown.join('')}`;
}

/** Why a key cannot be stored (its text never shown), or undefined. */
function keyProblem(k: string): string | undefined {
  if (k.charCodeAt(0) === 36) return 'a key that starts with "$"';
  if (k.includes('.')) return 'a key that contains "."';
  if (k.includes('\0')) return 'a key that contains a NUL character';
  return undefined;
}

/** BSON values of a known size (type byte and name apart); any other needs the encoder's own count. */
const BSON_SIZES: Record<string, number> = { ObjectId: 12, Long: 8, Double: 8, Timestamp: 8, Int32: 4 };

/** One walk's state: the containers above, where it is, and an upper bound of the document's BSON size so far. */
interface Walk {
  ancestors: Set<object>;
  path: Path;
  bytes: number;
  /** a value whose size the walk does not bound (a RegExp, a Binary…): the encoder counts */
  uncounted: boolean;
}

/**
 * Why the document `payload`, stored under `id`, cannot be sent as it is, or undefined. Walks what the BSON encoder
 * walks (own enumerable keys, Map entries, array items; BSON values, Dates, RegExps and binary data are leaves).
 * Every set with stringify: false pays this walk, so it bounds the size as it goes (3 bytes a UTF-16 unit at most)
 * and the encoder's exact count runs only near 16 MB.
 */
export function bsonProblem(payload: object, id: string): string | undefined {
  const w = walkDocument(payload);
  if (w.problem) return w.problem;
  return w.uncounted || w.bytes + 3 * id.length + DOCUMENT_OVERHEAD > MAX_DOCUMENT_BYTES ? sizeProblem(payload, id) : undefined;
}

/** The walk itself: the first problem, or the bound of the document's BSON size (`uncounted`: there is none). */
export function walkDocument(payload: object): { problem?: string; bytes: number; uncounted: boolean } {
  const w: Walk = { ancestors: new Set(), path: [], bytes: 0, uncounted: false };
  const problem = walk(w, payload, 1, false);
  return { problem, bytes: w.bytes, uncounted: w.uncounted };
}

function walk(w: Walk, v: unknown, depth: number, inArray: boolean): string | undefined {
  switch (typeof v) {
    case 'string':
      w.bytes += 3 * v.length + 5;
      return v.includes('\0') ? `a string that contains a NUL character at ${maskedPath(w.path)} (FerretDB on PostgreSQL cannot store one)` : undefined;
    case 'number':
      w.bytes += 8;
      return Number.isFinite(v) ? undefined : `${v} at ${maskedPath(w.path)}: NaN and Infinity cannot be stored (with stringify: true, JSON writes null)`;
    case 'bigint':
      w.bytes += 8;
      return v >= INT64_MIN && v <= INT64_MAX ? undefined : `a BigInt outside the 64-bit range at ${maskedPath(w.path)} (BSON would store another number)`;
    case 'boolean':
      w.bytes += 1;
      return undefined;
    case 'object':
      break;
    default:
      return undefined; // functions and symbols are left out by the encoder, undefined becomes null
  }
  if (v === null) return undefined;
  if (v instanceof Date) {
    w.bytes += 8;
    return undefined;
  }
  if (v instanceof Uint8Array) {
    w.bytes += v.byteLength + 5;
    return undefined;
  }
  // What the encoder sizes itself: a RegExp, an ArrayBuffer, what a toBSON() of the app's answers (not called here).
  if (v instanceof RegExp || v instanceof ArrayBuffer || typeof (v as { toBSON?: unknown }).toBSON === 'function') {
    w.uncounted = true;
    return undefined;
  }
  const bsonType = (v as { _bsontype?: unknown })._bsontype;
  if (typeof bsonType === 'string') {
    if (UNSTORABLE_BSON.has(bsonType)) return `a BSON ${bsonType} at ${maskedPath(w.path)} (FerretDB cannot store one)`;
    const size = BSON_SIZES[bsonType];
    if (size === undefined) w.uncounted = true;
    else w.bytes += size;
    const n = bsonType === 'Double' ? (v as { value?: unknown }).value : undefined;
    return typeof n === 'number' && !Number.isFinite(n) ? `${n} at ${maskedPath(w.path)}: NaN and Infinity cannot be stored` : undefined;
  }
  if (w.ancestors.has(v)) return `a cycle at ${maskedPath(w.path)}`;
  if (depth > MAX_DEPTH) return `it nests more than ${MAX_DEPTH} levels deep (MongoDB stores at most 100)`;
  const isArray = Array.isArray(v);
  if (isArray && inArray) return `an array directly inside an array at ${maskedPath(w.path)} (FerretDB cannot store one)`;
  w.ancestors.add(v);
  w.bytes += 5;
  let found: string | undefined;
  if (isArray) {
    for (let i = 0; i < v.length && !found; i++) {
      w.bytes += 9; // type byte, the index as a name (7 digits at most), its NUL
      w.path.push(i);
      found = walk(w, v[i], depth + 1, true);
      w.path.pop();
    }
  } else if (v instanceof Map) {
    let i = 0;
    for (const [k, item] of v) {
      found = entry(w, k, item, i++, depth);
      if (found) break;
    }
  } else {
    const keys = Object.keys(v);
    for (let i = 0; i < keys.length && !found; i++) found = entry(w, keys[i], (v as Record<string, unknown>)[keys[i]], i, depth);
  }
  w.ancestors.delete(v);
  return found;
}

function entry(w: Walk, k: unknown, item: unknown, i: number, depth: number): string | undefined {
  w.path.push(~i);
  let found: string | undefined;
  if (typeof k === 'string') {
    w.bytes += 3 * k.length + 2;
    const bad = keyProblem(k);
    if (bad) found = `${bad} at ${maskedPath(w.path)}`;
  } else {
    w.uncounted = true;
  }
  found ??= walk(w, item, depth + 1, false);
  w.path.pop();
  return found;
}

/**
 * After JSON.stringify failed: the cycle or BigInt that made it fail, or undefined (then it was a toJSON of the app's
 * own). V8's message for a cycle quotes the keys that close it, so it is never passed on.
 */
export function jsonProblem(value: unknown): string | undefined {
  const ancestors = new Set<object>();
  const path: Path = [];
  const walk = (v: unknown): string | undefined => {
    if (typeof v === 'bigint') return `a BigInt at ${maskedPath(path)} (JSON has none)`;
    if (!v || typeof v !== 'object' || typeof (v as { toJSON?: unknown }).toJSON === 'function') return undefined;
    if (ancestors.has(v)) return `a cycle at ${maskedPath(path)}`;
    if (path.length > 2_000) return undefined; // explaining a failure must not overflow the stack itself
    ancestors.add(v);
    let found: string | undefined;
    const keys = Array.isArray(v) ? undefined : Object.keys(v);
    const n = keys ? keys.length : (v as unknown[]).length;
    for (let i = 0; i < n && !found; i++) {
      path.push(keys ? ~i : i);
      found = walk((v as Record<string | number, unknown>)[keys ? keys[i] : i]);
      path.pop();
    }
    ancestors.delete(v);
    return found;
  };
  return walk(value);
}

/** Why the stored value (a string, or a document without cycles) makes a document over 16 MB, or undefined. */
export function sizeProblem(stored: unknown, id: string): string | undefined {
  if (typeof stored !== 'string' && (!stored || typeof stored !== 'object')) return undefined; // an app's cipher adapter's odd answer: the driver's to judge
  const bytes = typeof stored === 'string' ? Buffer.byteLength(stored, 'utf8') + 5 : BSON.calculateObjectSize(stored as BSON.Document);
  if (bytes + Buffer.byteLength(id, 'utf8') + DOCUMENT_OVERHEAD <= MAX_DOCUMENT_BYTES) return undefined;
  return 'it is larger than a MongoDB document may be (16 MB)';
}
