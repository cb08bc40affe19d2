/**
 * kruptein: the encryption format of connect-mongo 3–6's `crypto` option, read and written through the `kruptein`
 * package itself (the version connect-mongo 6 pins), so ciphertexts move both ways. A stored value is
 * encodeas(ASN.1 { ct, hmac, iv, salt, at, aad }): a fresh PBKDF2 salt and IV per write, an HMAC over the ciphertext.
 * Unlike "cm1:", it is not bound to the session id.
 */
import type { CryptoAdapter, CryptoOptions } from './crypto-types';
import { MongoStoreError, OptionsError, SessionCorruptError } from './errors';

// src/index.ts exports CryptoOptions from here.

/** The defaults connect-mongo 3–6 merge under the user's options before handing them to kruptein. */
export const KRUPTEIN_DEFAULTS = { algorithm: 'aes-256-gcm', hashing: 'sha512', encodeas: 'base64', key_size: 32, iv_size: 16, at_size: 16 } as const;

type Done = (err?: unknown, value?: unknown) => void;
interface Kruptein {
  set(secret: string, plaintext: string, cb: Done): void;
  get(secret: string, ciphertext: string, cb: Done): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const kruptein = require('kruptein') as (options: object) => Kruptein;

/**
 * One kruptein call as a promise. kruptein answers through its callback synchronously, sometimes twice (an error,
 * then a result) or by throwing on malformed input: the first answer wins and a throw is an error, never a crash.
 */
function call(run: (cb: Done) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    try {
      run((err, value) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve(value);
      });
    } catch (e) {
      if (!settled) reject(e);
      settled = true;
    }
  });
}

function secretsOf(options: CryptoOptions): string[] {
  return ([] as Array<string | false>).concat(options?.secret ?? []).filter((s): s is string => typeof s === 'string' && s.length > 0);
}

/**
 * connect-mongo 6's createKrupteinAdapter: the same options, the same stored format, usable as `cryptoAdapter` here
 * and there. As in connect-mongo 6, decrypt returns kruptein's plaintext, which is the JSON encoding of what encrypt
 * was given. With a list of secrets, the first encrypts and each is tried to decrypt.
 */
export function createKrupteinAdapter(options: CryptoOptions): CryptoAdapter {
  const secrets = secretsOf(options);
  if (secrets.length === 0 || (Array.isArray(options.secret) && secrets.length !== options.secret.length)) {
    throw new OptionsError([{ path: '/secret', message: 'createKrupteinAdapter requires a non-empty secret' }], 'createKrupteinAdapter options');
  }
  const instance = kruptein({ ...KRUPTEIN_DEFAULTS, ...options, secret: secrets[0] });
  return {
    async encrypt(plaintext) {
      try {
        return String(await call((cb) => instance.set(secrets[0], plaintext, cb)));
      } catch (e) {
        throw new MongoStoreError(`the session cannot be encrypted (kruptein: ${describe(e)})`, 'ERR_CONNECT_MONGO_SERIALIZE');
      }
    },
    async decrypt(ciphertext) {
      if (typeof ciphertext !== 'string' || ciphertext.length === 0) throw new SessionCorruptError('the stored session is not a kruptein ciphertext');
      let last: unknown;
      for (const secret of secrets) {
        try {
          const plain = await call((cb) => instance.get(secret, ciphertext, cb));
          if (typeof plain === 'string') return plain;
          if (plain !== undefined) return JSON.stringify(plain);
          last = 'no plaintext';
        } catch (e) {
          last = e;
        }
      }
      throw new SessionCorruptError(`the stored session cannot be decrypted (kruptein: ${describe(last)}): wrong crypto secret or options, or the data was modified`);
    },
  };
}

/** kruptein's errors are fixed strings; anything else (a TypeError on malformed input) is named, not quoted. */
function describe(e: unknown): string {
  if (typeof e === 'string') return e.replace(/[.!]+$/, '');
  return e instanceof Error ? `${e.name} on a malformed value` : 'failed';
}

/**
 * What is wrong with these kruptein options, if anything: one encrypt/decrypt round trip (kruptein is synchronous),
 * so an algorithm, hashing or encoding kruptein cannot use is refused at start instead of failing every request.
 */
export function krupteinProblem(options: CryptoOptions): string | undefined {
  const secret = secretsOf(options)[0];
  if (!secret) return undefined;
  let problem: string | undefined;
  try {
    const k = kruptein({ ...KRUPTEIN_DEFAULTS, ...options, secret });
    let stored: unknown;
    k.set(secret, 'probe', (err, value) => {
      if (err) problem ??= describe(err);
      else stored ??= value;
    });
    if (!problem) {
      let back: unknown;
      k.get(secret, String(stored), (err, value) => {
        if (err) problem ??= describe(err);
        else back ??= value;
      });
      if (!problem && back !== '"probe"') problem = 'a round trip did not give the plaintext back';
    }
  } catch (e) {
    // These messages name an option value (an unknown cipher or digest), never the secret.
    problem = e instanceof Error ? e.message : describe(e);
  }
  return problem;
}
