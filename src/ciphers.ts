/**
 * Which encryption a store writes, and how it reads what it finds. Both secret options read both formats, told apart
 * by the "cm1:" prefix, so a database moves either way: `crypto` (connect-mongo 3–6's option) writes kruptein's
 * format and still reads the "cm1:" sessions this package's `crypto` wrote before; `encryption` writes "cm1:" and
 * reads kruptein's format (with connect-mongo's default kruptein options).
 */
import type { NormalizedOptions } from './options';
import { aesGcmAdapter, AES_GCM_PREFIX } from './crypto';
import { createKrupteinAdapter, KRUPTEIN_DEFAULTS } from './kruptein';

export interface Cipher {
  /** the serialized session (a string or an object) → the stored string */
  encrypt(payload: unknown, id: string): Promise<string>;
  /** the stored string → the decrypted text (a SessionCorruptError when it cannot be read) */
  decrypt(stored: string, id: string): Promise<string>;
}

/**
 * connect-mongo 6's plaintext: a string as it is, anything else as JSON. (connect-mongo 6 falls back to String(x) when
 * JSON fails, storing "[object Object]"; here that is a serialize error instead.)
 */
const v6Plaintext = (payload: unknown) => (typeof payload === 'string' ? payload : JSON.stringify(payload));

/** Built on first use: scrypt costs tens of ms a secret, paid only by a store that meets that format. */
function lazy<T>(make: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= make());
}

export function createCipher(crypto: NonNullable<NormalizedOptions['crypto']>): Cipher {
  if (crypto.kind === 'adapter') {
    const { adapter } = crypto;
    return {
      encrypt: async (payload, id) => adapter.encrypt(v6Plaintext(payload), { id }),
      decrypt: async (stored, id) => adapter.decrypt(stored, { id }),
    };
  }
  if (crypto.kind === 'kruptein' && crypto.secrets.some((s) => s.length < 8)) {
    // connect-mongo 6 takes any secret here; refusing would stop an upgraded app from starting.
    process.emitWarning('connect-mongo: a crypto secret is shorter than 8 characters: a short secret is easy to guess offline from a copy of the sessions; use a long random one.', { code: 'CONNECT_MONGO_SHORT_SECRET' });
  }
  const gcm = lazy(() => aesGcmAdapter(crypto.secrets));
  const kruptein = lazy(() => createKrupteinAdapter({ ...(crypto.kind === 'kruptein' ? crypto.options : KRUPTEIN_DEFAULTS), secret: crypto.secrets }));
  const decrypt = async (stored: string, id: string) => (stored.startsWith(AES_GCM_PREFIX) ? gcm().decrypt(stored, { id }) : kruptein().decrypt(stored));
  if (crypto.kind === 'kruptein') return { encrypt: async (payload) => kruptein().encrypt(v6Plaintext(payload)), decrypt };
  // "cm1:" has always held the JSON of the serialized value, whatever its type.
  return { encrypt: async (payload, id) => gcm().encrypt(JSON.stringify(payload), { id }), decrypt };
}
