/** Errors the store raises, and the masking every message and log goes through. */
import { secretKeys } from '../generated';

export type ErrorCode =
  | 'ERR_CONNECT_MONGO_OPTIONS'
  | 'ERR_CONNECT_MONGO_CLOSED'
  | 'ERR_CONNECT_MONGO_TIMEOUT'
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

/** mongodb://user:secret@host/db?tlsCertificateKeyFilePassword=x → mongodb://user:****@host/db?tlsCertificateKeyFilePassword=**** */
export function maskUrl(url: string): string {
  return url
    .replace(/^([a-z+]+:\/\/[^:/@]*):([^@/]*)@/i, `$1:${MASK}@`)
    .replace(/([?&](?:password|[a-z]*Password|authMechanismProperties|secret|token)=)[^&]*/gi, `$1${MASK}`);
}

const SECRET_NAME = /pass(word)?|secret|token|key(?!Vault)|credential|auth/i;

/** Masks a value whose option path is secret (per the schema's x-secret), or whose key looks secret. */
export function maskValue(path: string, value: unknown): unknown {
  const kind = secretKeys[path.replace(/^\//, '').replace(/\//g, '.')] ?? secretKeys[path];
  if (kind === 'url-password' && typeof value === 'string') return maskUrl(value);
  if (kind === 'value') return Array.isArray(value) ? value.map(() => MASK) : MASK;
  if (kind === 'mongo-options') return maskDeep(value);
  return value;
}

/** A copy of a plain value with every secret-looking key masked (for print-config, error messages, debug). */
export function maskDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskDeep);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = typeof v === 'string' && SECRET_NAME.test(k) ? MASK : typeof v === 'string' && /:\/\//.test(v) ? maskUrl(v) : maskDeep(v);
    }
    return out;
  }
  return value;
}

/** "a string", "the number 5", "an object", … for "found …" in messages; secret paths never show their value. */
export function describeFound(value: unknown, path = ''): string {
  const masked = maskValue(path, value);
  if (masked !== value && typeof value !== 'object') return typeof masked === 'string' ? JSON.stringify(masked) : 'a secret value';
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
