/**
 * connect-mongo 6's createWebCryptoAdapter, same options and stored format: encoding(iv | ciphertext), the key from
 * PBKDF2-SHA-256 over the secret (salt "connect-mongo:webcrypto-default-salt" unless given, 310000 iterations), AES-GCM
 * (12-byte IV, the 16-byte tag at the end of the ciphertext) or AES-CBC (16-byte IV, no authentication).
 */
import { webcrypto } from 'node:crypto';
import type { CryptoAdapter } from './crypto-types';
import { MongoStoreError, OptionsError, SessionCorruptError, describeFound, type OptionIssue } from './errors';

export type WebCryptoEncoding = 'base64' | 'base64url' | 'hex';
type Bytes = string | ArrayBuffer | ArrayBufferView;

export interface WebCryptoAdapterOptions {
  secret: Bytes;
  ivLength?: number;
  encoding?: WebCryptoEncoding;
  algorithm?: 'AES-GCM' | 'AES-CBC';
  salt?: Bytes;
  iterations?: number;
}

const DEFAULT_SALT = 'connect-mongo:webcrypto-default-salt';
const ENCODINGS = ['base64', 'base64url', 'hex'];
const ALGORITHMS = ['AES-GCM', 'AES-CBC'];

function bytesOf(v: Bytes): Uint8Array | undefined {
  if (typeof v === 'string') return new TextEncoder().encode(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return undefined;
}

function check(o: WebCryptoAdapterOptions): OptionIssue[] {
  const issues: OptionIssue[] = [];
  if (!o || typeof o !== 'object') return [{ path: '/', message: `expected an options object, found ${describeFound(o)}` }];
  const secret = o.secret === undefined || o.secret === null ? undefined : bytesOf(o.secret);
  if (!secret || secret.byteLength === 0) issues.push({ path: '/secret', message: 'createWebCryptoAdapter requires a secret (a non-empty string, ArrayBuffer or typed array)' });
  if (o.salt !== undefined && !bytesOf(o.salt)) issues.push({ path: '/salt', message: 'expected a string, ArrayBuffer or typed array' });
  if (o.encoding !== undefined && !ENCODINGS.includes(o.encoding)) issues.push({ path: '/encoding', message: `expected one of ${ENCODINGS.join(', ')}, found ${describeFound(o.encoding)}` });
  if (o.algorithm !== undefined && !ALGORITHMS.includes(o.algorithm)) issues.push({ path: '/algorithm', message: `expected one of ${ALGORITHMS.join(', ')}, found ${describeFound(o.algorithm)}` });
  for (const k of ['ivLength', 'iterations'] as const) {
    const v = o[k];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) issues.push({ path: `/${k}`, message: `expected a positive integer, found ${describeFound(v)}` });
  }
  if ((o.algorithm ?? 'AES-GCM') === 'AES-CBC' && o.ivLength !== undefined && o.ivLength !== 16) issues.push({ path: '/ivLength', message: 'AES-CBC needs an ivLength of 16' });
  return issues;
}

export function createWebCryptoAdapter(options: WebCryptoAdapterOptions): CryptoAdapter {
  const issues = check(options);
  if (issues.length) throw new OptionsError(issues, 'createWebCryptoAdapter options');
  const algorithm = options.algorithm ?? 'AES-GCM';
  if (algorithm === 'AES-CBC') {
    // Kept for connect-mongo 6's data, but nothing detects a modified ciphertext: a flipped bit is a changed session.
    process.emitWarning('connect-mongo: createWebCryptoAdapter with AES-CBC does not authenticate: a modified ciphertext can decrypt to a modified session. Use AES-GCM (the default).', { code: 'CONNECT_MONGO_UNAUTHENTICATED_CIPHER' });
  }
  const encoding = options.encoding ?? 'base64';
  const ivLength = options.ivLength ?? (algorithm === 'AES-GCM' ? 12 : 16);
  const { subtle } = webcrypto;
  // Copies: a caller reusing its buffer must not change the key later.
  const secret = Uint8Array.from(bytesOf(options.secret)!);
  const salt = Uint8Array.from(bytesOf(options.salt ?? DEFAULT_SALT)!);

  // Derivation (hundreds of ms) starts now, like connect-mongo 6's; a failure surfaces on use, never unhandled.
  const key = subtle
    .importKey('raw', secret, 'PBKDF2', false, ['deriveKey'])
    .then((base) => subtle.deriveKey({ name: 'PBKDF2', salt, iterations: options.iterations ?? 310_000, hash: 'SHA-256' }, base, { name: algorithm, length: 256 }, false, ['encrypt', 'decrypt']));
  key.catch(() => {});

  return {
    async encrypt(plaintext) {
      try {
        const iv = webcrypto.getRandomValues(new Uint8Array(ivLength));
        const ct = new Uint8Array(await subtle.encrypt({ name: algorithm, iv }, await key, new TextEncoder().encode(plaintext)));
        return Buffer.concat([iv, ct]).toString(encoding);
      } catch (e) {
        throw new MongoStoreError(`the session cannot be encrypted (Web Crypto ${algorithm}: ${(e as Error)?.name ?? 'failed'})`, 'ERR_CONNECT_MONGO_SERIALIZE', { cause: e });
      }
    },
    async decrypt(ciphertext) {
      const raw = typeof ciphertext === 'string' ? Buffer.from(ciphertext, encoding) : undefined;
      if (!raw || raw.length <= ivLength) throw new SessionCorruptError(`the stored session is not a Web Crypto ${algorithm} ciphertext (too short)`);
      try {
        const plain = await subtle.decrypt({ name: algorithm, iv: raw.subarray(0, ivLength) }, await key, raw.subarray(ivLength));
        return new TextDecoder('utf-8', { fatal: true }).decode(plain);
      } catch {
        throw new SessionCorruptError(`the stored session cannot be decrypted (Web Crypto ${algorithm}): wrong secret, salt or options, or the data was modified`);
      }
    },
  };
}
