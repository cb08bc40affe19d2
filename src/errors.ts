/** Errors the store raises, and the masking every message and log goes through. */
import { inspect, type InspectOptions } from 'node:util';
import { secretKeys } from '../generated';

export type ErrorCode =
  | 'ERR_CONNECT_MONGO_OPTIONS'
  | 'ERR_CONNECT_MONGO_CLOSED'
  | 'ERR_CONNECT_MONGO_TIMEOUT'
  | 'ERR_CONNECT_MONGO_AUTH'
  | 'ERR_CONNECT_MONGO_CORRUPT'
  | 'ERR_CONNECT_MONGO_SERIALIZE'
  | 'ERR_CONNECT_MONGO_INVALID_SID'
  | 'ERR_CONNECT_MONGO_UNSUPPORTED'
  | 'ERR_CONNECT_MONGO_USER_ID';

export class MongoStoreError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MongoStoreError';
  }
}

/** One problem with the options: where (a JSON path such as `/writeOperationOptions/w`), what was expected, what was found. */
export interface OptionIssue {
  path: string;
  message: string;
}

export class OptionsError extends MongoStoreError {
  readonly issues: OptionIssue[];
  constructor(
    issues: OptionIssue[],
    readonly source = 'options',
  ) {
    // Each message masked its values already; this catches a `user:password@` that reached a message another way.
    const safe = issues.map((i) => ({ path: maskMessage(i.path), message: maskMessage(i.message) }));
    super(
      safe.length === 1
        ? `connect-mongo: invalid ${source}: ${formatIssue(safe[0])}`
        : `connect-mongo: ${safe.length} problems in ${source}:\n${safe.map((i) => `  - ${formatIssue(i)}`).join('\n')}`,
      'ERR_CONNECT_MONGO_OPTIONS',
    );
    this.issues = safe;
    this.name = 'OptionsError';
  }
}

function formatIssue(i: OptionIssue): string {
  return i.path ? `${printable(i.path)}: ${i.message}` : i.message;
}

/**
 * A JSON path (or file name) as printed: its keys come from the file, and a key with a newline or an escape sequence
 * would otherwise start a line of its own (a forged `::error` workflow command in CI) or drive the terminal.
 */
export function printable(s: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The session store equivalent of "file not found": express-session treats code ENOENT as "no session". */
export class SessionCorruptError extends MongoStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_CONNECT_MONGO_CORRUPT', options);
    this.name = 'SessionCorruptError';
  }
}

const MASK = '****';

const QUERY_SECRET = /([?&](?:[a-z_]*(?:password|passphrase|secret|token)|authMechanismProperties)=)([^&\s"']*)/gi;
/**
 * Keys under which a value is secret wherever they stand: the schema's secret options (crypto, hashIds), credential
 * containers (mongoOptions.auth, authMechanismProperties, kmsProviders) and password/secret/token/key-like names.
 */
export const SECRET_KEY = /pass(?:word|wd|phrase)|pass$|secret|token|credential|^key$|private_?key|api_?key|access_?key|^(?:crypto|hashIds|auth|authMechanismProperties|kmsProviders)$/i;
/** A user name is not a secret (print-config shows mongoOptions.auth.username). */
const NOT_SECRET = /^(?:username|user)$/;

function unescapeSegment(seg: string): string {
  return seg.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * Whether the value at a JSON pointer is secret by where it sits: any segment is a secret-bearing key (an env
 * block's options are the same options, so /env/<name> is skipped). Decided by position, never by the value's look.
 */
export function isSecretPath(path: string): boolean {
  const segs = path.replace(/^\/env\/[^/]+/, '').split('/').slice(1).map(unescapeSegment);
  if (!segs.length || NOT_SECRET.test(segs[segs.length - 1])) return false;
  return segs.some((s) => SECRET_KEY.test(s));
}

/**
 * Where the password of a `user:password@` sits in a string, wherever the string is malformed: a leading space or
 * quote, one slash or none after the scheme, no scheme at all. The span runs from the first ':' of the user info to
 * the last '@' (a password may hold '@', '/' or ':'); over-masking a string that only looks like one is the safe way
 * round.
 */
function credentialSpan(s: string): [number, number] | undefined {
  const at = s.lastIndexOf('@');
  if (at <= 0) return undefined;
  const lead = /^[\s"'`<(\[{\\]*/.exec(s)![0].length; // also a JSON-escaped quote
  let start = lead;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/*/.exec(s.slice(lead, at));
  // "mongodb+srv:user:pw@" (no slash) has a ':' after the scheme; "user:pw@" has none: its "user:" is no scheme.
  if (scheme && (scheme[0].endsWith('/') || s.slice(lead + scheme[0].length, at).includes(':'))) start = lead + scheme[0].length;
  const colon = s.indexOf(':', start);
  return colon !== -1 && colon < at ? [colon + 1, at] : undefined;
}

/** A string with any `user:password@` password and secret query parameters masked (any scheme, any malformation). */
export function maskCredentials(s: string): string {
  const span = credentialSpan(s);
  const out = span ? s.slice(0, span[0]) + MASK + s.slice(span[1]) : s;
  return out.replace(QUERY_SECRET, `$1${MASK}`);
}

/** mongodb://user:secret@host/db?tlsCertificateKeyFilePassword=x → mongodb://user:****@host/db?tlsCertificateKeyFilePassword=**** */
export const maskUrl = maskCredentials;

/** A message with every whitespace-separated word that holds credentials masked: the last line of defence. */
export function maskMessage(text: string): string {
  return text.replace(/\S*[@=]\S*/g, (word) => maskCredentials(word));
}

/** The secret parts of a string (a password, secret query parameters), for redacting them elsewhere. */
export function urlSecrets(url: string): string[] {
  const span = credentialSpan(url);
  const password = span ? url.slice(span[0], span[1]) : '';
  return [...(password ? [password] : []), ...[...url.matchAll(QUERY_SECRET)].map((m) => m[2]).filter(Boolean)];
}

/** JSON pointer of `key` under `base` (RFC 6901 escaping). */
export function pointer(base: string, key: string | number): string {
  return `${base}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);
}

/** The schema's x-secret kind at a JSON pointer (an env block's options are the same options). */
function secretKindAt(path: string): string | undefined {
  return secretKeys[path.replace(/^\/env\/[^/]+/, '').replace(/^\//, '').replace(/\//g, '.')];
}

function isSecretScalar(value: unknown): boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint';
}

/**
 * A copy of a plain value with every secret masked: every value under a secret-bearing key (whatever its type) and
 * passwords in any string. For print-config, error messages and debug output.
 */
export function maskDeep(value: unknown, path = ''): unknown {
  return mask(value, path, false, 0);
}

/**
 * What logging an object may show: maskDeep, plus live objects (clients, promises, Db…) named, never walked, and
 * functions named. For util.inspect and JSON of the store and its options.
 */
export function safeView(value: unknown, path = ''): unknown {
  return mask(value, path, true, 0);
}

function mask(value: unknown, path: string, live: boolean, depth: number): unknown {
  if (isSecretPath(path) && isSecretScalar(value)) return MASK;
  if (typeof value === 'string') return maskCredentials(value);
  if (depth > 16) return live ? '[…]' : value;
  if (Array.isArray(value)) return value.map((v, i) => mask(v, pointer(path, i), live, depth + 1));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: mask(v, pointer(path, k), live, depth + 1), enumerable: true, writable: true, configurable: true });
    return out;
  }
  if (live && typeof value === 'function') return `[Function${value.name ? ` ${value.name}` : ''}]`;
  if (live && value && typeof value === 'object') return `[${(value as object).constructor?.name ?? 'Object'}]`;
  return value;
}

/**
 * Makes `target` log safely: `fields` become non-enumerable (JSON and inspection skip them), and util.inspect and
 * JSON.stringify show `view()` through safeView instead of the object (whose connection leads to the client and its
 * password, at any depth).
 */
export function hideFromInspection(target: object, fields: readonly string[], view: () => Record<string, unknown>): void {
  for (const f of fields) {
    const d = Object.getOwnPropertyDescriptor(target, f);
    if (d) Object.defineProperty(target, f, { ...d, enumerable: false });
  }
  const name = () => (target.constructor && target.constructor !== Object ? `${target.constructor.name} ` : '');
  Object.defineProperty(target, inspect.custom, {
    value: (_depth: number, options: InspectOptions, insp: typeof inspect = inspect) => `${name()}${insp(safeView(view()), options)}`,
    enumerable: false,
    configurable: true,
  });
  Object.defineProperty(target, 'toJSON', { value: () => safeView(view()), enumerable: false, configurable: true });
}

/** "a string", "the number 5", "an object", … for "found …" in messages; secret paths never show their value. */
export function describeFound(value: unknown, path = ''): string {
  if (isSecretPath(path) && isSecretScalar(value)) return JSON.stringify(MASK);
  if (typeof value === 'string') {
    const masked = maskCredentials(value);
    // A connection string option with a password in it: shown masked, whole.
    if (masked !== value && secretKindAt(path) === 'url-password') return JSON.stringify(masked);
    return `the string ${JSON.stringify(masked.length > 60 ? `${masked.slice(0, 57)}...` : masked)}`;
  }
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case 'number':
    case 'boolean':
      return `${typeof value} ${String(value)}`;
    case 'function':
      return 'a function';
    case 'object': {
      const ctor = (value as object).constructor?.name;
      return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
    }
    default:
      return `a ${typeof value}`;
  }
}
