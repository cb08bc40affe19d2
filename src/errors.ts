/** Errors the store raises, and the masking every message and log goes through. */
import { secretKeys } from '../generated';

export type ErrorCode =
  | 'ERR_CONNECT_MONGO_OPTIONS'
  | 'ERR_CONNECT_MONGO_CLOSED'
  | 'ERR_CONNECT_MONGO_TIMEOUT'
  | 'ERR_CONNECT_MONGO_AUTH'
  | 'ERR_CONNECT_MONGO_CORRUPT'
  | 'ERR_CONNECT_MONGO_SERIALIZE'
  | 'ERR_CONNECT_MONGO_INVALID_SID'
  | 'ERR_CONNECT_MONGO_UNSUPPORTED';

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
  constructor(
    readonly issues: OptionIssue[],
    readonly source = 'options',
  ) {
    super(
      issues.length === 1
        ? `connect-mongo: invalid ${source}: ${formatIssue(issues[0])}`
        : `connect-mongo: ${issues.length} problems in ${source}:\n${issues.map((i) => `  - ${formatIssue(i)}`).join('\n')}`,
      'ERR_CONNECT_MONGO_OPTIONS',
    );
    this.name = 'OptionsError';
  }
}

function formatIssue(i: OptionIssue): string {
  return i.path ? `${i.path}: ${i.message}` : i.message;
}

/** The session store equivalent of "file not found": express-session treats code ENOENT as "no session". */
export class SessionCorruptError extends MongoStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_CONNECT_MONGO_CORRUPT', options);
    this.name = 'SessionCorruptError';
  }
}

const MASK = '****';

const URL_PASSWORD = /^([a-z+]+:\/\/[^:/@]*):([^@/]*)@/i;
const QUERY_SECRET = /([?&](?:password|[a-z]*Password|authMechanismProperties|secret|token)=)([^&]*)/gi;
/** Keys whose string values are secret wherever they stand (mongoOptions.auth.password, a tls key password, …). */
export const SECRET_KEY = /pass(word)?|secret|token|credential/i;

/** mongodb://user:secret@host/db?tlsCertificateKeyFilePassword=x → mongodb://user:****@host/db?tlsCertificateKeyFilePassword=**** */
export function maskUrl(url: string): string {
  return url.replace(URL_PASSWORD, `$1:${MASK}@`).replace(QUERY_SECRET, `$1${MASK}`);
}

/** The secret parts of a connection string (its password, secret query parameters), for redacting them elsewhere. */
export function urlSecrets(url: string): string[] {
  const password = URL_PASSWORD.exec(url)?.[2];
  return [...(password ? [password] : []), ...[...url.matchAll(QUERY_SECRET)].map((m) => m[2])];
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

/**
 * A copy of a plain value with every secret masked: values at the schema's secret paths, passwords in connection
 * strings anywhere, and strings under secret-looking keys. For print-config, error messages and debug output.
 */
export function maskDeep(value: unknown, path = ''): unknown {
  const kind = secretKindAt(path);
  if (kind === 'value') return Array.isArray(value) ? value.map(() => MASK) : MASK;
  if (typeof value === 'string') {
    if (kind === 'url-password' || /:\/\//.test(value)) return maskUrl(value);
    return SECRET_KEY.test(path.split('/').pop() ?? '') ? MASK : value;
  }
  if (Array.isArray(value)) return value.map((v, i) => maskDeep(v, pointer(path, i)));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskDeep(v, pointer(path, k))]));
  }
  return value;
}

/** "a string", "the number 5", "an object", … for "found …" in messages; secret paths never show their value. */
export function describeFound(value: unknown, path = ''): string {
  const masked = maskDeep(value, path);
  // At a secret path, only the masked value; elsewhere a connection string is described with its password masked.
  if (masked !== value && typeof value !== 'object' && (['url-password', 'value'].includes(secretKindAt(path) ?? '') || typeof masked !== 'string')) {
    return typeof masked === 'string' ? JSON.stringify(masked) : 'a secret value';
  }
  value = masked;
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case 'string':
      return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
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
