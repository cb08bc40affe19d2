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

type Path = Array<number | string>;

/** `session.<key 2>[0].<key 1>`: a key is shown by its position, never its text; long paths keep both ends. */
export function maskedPath(path: Path): string {
  const seg = (p: number | string) => (typeof p === 'number' ? `[${p}]` : `.${p}`);
  const shown = path.length > 12 ? [...path.slice(0, 6).map(seg), '…', ...path.slice(-5).map(seg)] : path.map(seg);
  return `session${shown.join('')}`;
}

const keySegment = (i: number) => `<key ${i + 1}>`;

/** Why a key cannot be stored (its text never shown), or undefined. */
function keyProblem(k: string): string | undefined {
  if (k.charCodeAt(0) === 36) return 'a key that starts with "$"';
  if (k.includes('.')) return 'a key that contains "."';
  if (k.includes('\0')) return 'a key that contains a NUL character';
  return undefined;
}

/**
 * Why the document `payload` cannot be sent as it is, or undefined. Walks what the BSON encoder will walk (own
 * enumerable keys, Map entries, array items); BSON values, Dates, RegExps and binary data are leaves.
 */
export function bsonProblem(payload: object): string | undefined {
  const ancestors = new Set<object>();
  const path: Path = [];
  const walk = (v: unknown, depth: number, inArray: boolean): string | undefined => {
    switch (typeof v) {
      case 'number':
        return Number.isFinite(v) ? undefined : `${v} at ${maskedPath(path)}: NaN and Infinity cannot be stored (with stringify: true, JSON writes null)`;
      case 'bigint':
        return v >= INT64_MIN && v <= INT64_MAX ? undefined : `a BigInt outside the 64-bit range at ${maskedPath(path)} (BSON would store another number)`;
      case 'string':
        return v.includes('\0') ? `a string that contains a NUL character at ${maskedPath(path)} (FerretDB on PostgreSQL cannot store one)` : undefined;
      case 'object':
        break;
      default:
        return undefined; // functions and symbols are left out by the encoder, undefined becomes null
    }
    if (v === null || v instanceof Date || v instanceof RegExp || v instanceof Uint8Array || v instanceof ArrayBuffer) return undefined;
    const bsonType = (v as { _bsontype?: unknown })._bsontype;
    if (typeof bsonType === 'string') {
      if (UNSTORABLE_BSON.has(bsonType)) return `a BSON ${bsonType} at ${maskedPath(path)} (FerretDB cannot store one)`;
      const n = bsonType === 'Double' ? (v as { value?: unknown }).value : undefined;
      return typeof n === 'number' && !Number.isFinite(n) ? `${n} at ${maskedPath(path)}: NaN and Infinity cannot be stored` : undefined;
    }
    if (ancestors.has(v)) return `a cycle at ${maskedPath(path)}`;
    if (depth > MAX_DEPTH) return `it nests more than ${MAX_DEPTH} levels deep (MongoDB stores at most 100)`;
    const isArray = Array.isArray(v);
    if (isArray && inArray) return `an array directly inside an array at ${maskedPath(path)} (FerretDB cannot store one)`;
    ancestors.add(v);
    let found: string | undefined;
    const entry = (k: unknown, item: unknown, i: number) => {
      path.push(keySegment(i));
      const bad = typeof k === 'string' ? keyProblem(k) : undefined;
      found = bad ? `${bad} at ${maskedPath(path)}` : walk(item, depth + 1, false);
      path.pop();
    };
    if (isArray) {
      for (let i = 0; i < v.length && !found; i++) {
        path.push(i);
        found = walk(v[i], depth + 1, true);
        path.pop();
      }
    } else if (v instanceof Map) {
      let i = 0;
      for (const [k, item] of v) {
        entry(k, item, i++);
        if (found) break;
      }
    } else {
      const keys = Object.keys(v);
      for (let i = 0; i < keys.length && !found; i++) entry(keys[i], (v as Record<string, unknown>)[keys[i]], i);
    }
    ancestors.delete(v);
    return found;
  };
  return walk(payload, 1, false);
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
    if (path.length > 10_000) return undefined; // no stack overflow while explaining one
    ancestors.add(v);
    let found: string | undefined;
    const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
    for (let i = 0; i < keys.length && !found; i++) {
      path.push(typeof keys[i] === 'number' ? keys[i] : keySegment(i));
      found = walk((v as Record<string | number, unknown>)[keys[i]]);
      path.pop();
    }
    ancestors.delete(v);
    return found;
  };
  return walk(value);
}

/** Why the stored value (a string, or a document bsonProblem passed) makes a document over 16 MB, or undefined. */
export function sizeProblem(stored: unknown, id: string): string | undefined {
  if (typeof stored !== 'string' && (!stored || typeof stored !== 'object')) return undefined; // an app's cipher adapter's odd answer: the driver's to judge
  const bytes = typeof stored === 'string' ? Buffer.byteLength(stored, 'utf8') + 5 : BSON.calculateObjectSize(stored as BSON.Document);
  if (bytes + Buffer.byteLength(id, 'utf8') + DOCUMENT_OVERHEAD <= MAX_DOCUMENT_BYTES) return undefined;
  return 'it is larger than a MongoDB document may be (16 MB)';
}
