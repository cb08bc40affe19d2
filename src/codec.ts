/**
 * Session ⇄ stored value: (de)serialization, optional encryption, and the checks that keep a corrupt document from
 * reaching express-session (which throws on a session without a cookie).
 */
import type { CryptoAdapter, NormalizedOptions } from './options';
import { MongoStoreError, SessionCorruptError } from './errors';
import { aesGcmAdapter } from './crypto';

export interface Codec<S> {
  encode(session: S, id: string): Promise<string | Record<string, unknown>>;
  decode(stored: unknown, id: string): Promise<S>;
}

/** stringify: false keeps a BSON sub-document; the cookie becomes plain data (connect-mongo's shape). */
function toPlainObject(session: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(session)) out[k] = v && typeof v.toJSON === 'function' && !(v instanceof Date) ? v.toJSON() : v;
  return out;
}

export function createCodec<S>(opts: Pick<NormalizedOptions<S>, 'serialize' | 'unserialize' | 'stringify' | 'crypto'>): Codec<S> {
  const crypto: CryptoAdapter | undefined = opts.crypto && ('adapter' in opts.crypto ? opts.crypto.adapter : aesGcmAdapter(opts.crypto.secrets));
  // With crypto, the payload is JSON-encoded once, inside the ciphertext.
  const serialize = opts.serialize ?? (opts.stringify && !crypto ? (s: S) => JSON.stringify(s) : (s: S) => toPlainObject(s as Record<string, unknown>));
  const unserialize = opts.unserialize ?? ((v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v) as S);

  return {
    async encode(session, id) {
      let payload: unknown;
      try {
        payload = serialize(session);
        if (crypto) payload = JSON.stringify(payload);
      } catch (e) {
        throw new MongoStoreError(`the session cannot be serialized: ${(e as Error).message}`, 'ERR_CONNECT_MONGO_SERIALIZE', { cause: e });
      }
      if (payload === undefined || (typeof payload !== 'string' && (typeof payload !== 'object' || payload === null))) {
        throw new MongoStoreError('the session cannot be serialized: serialize() must return a string or an object', 'ERR_CONNECT_MONGO_SERIALIZE');
      }
      if (!crypto) return payload as string | Record<string, unknown>;
      return crypto.encrypt(payload as string, { id });
    },

    async decode(stored, id) {
      let value: unknown = stored;
      try {
        if (crypto) {
          if (typeof stored !== 'string') throw new SessionCorruptError('expected an encrypted string');
          value = JSON.parse(await crypto.decrypt(stored, { id }));
        }
        const session = unserialize(value);
        if (!session || typeof session !== 'object' || Array.isArray(session)) throw new SessionCorruptError('the session is not an object');
        const cookie = (session as { cookie?: unknown }).cookie;
        if (!cookie || typeof cookie !== 'object') throw new SessionCorruptError('the session has no cookie object');
        return session;
      } catch (e) {
        if (e instanceof SessionCorruptError) throw e;
        // JSON.parse quotes the input in its message: never let session data into an error.
        const why = e instanceof SyntaxError ? 'it is not valid JSON' : (e as Error).message;
        throw new SessionCorruptError(`the stored session cannot be read: ${why}`);
      }
    },
  };
}
