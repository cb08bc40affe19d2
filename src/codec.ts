/**
 * Session ⇄ stored value, as connect-mongo 6 does it (so documents and custom serialize/unserialize functions move
 * between the two unchanged), with optional encryption, and the checks that keep an unreadable document from reaching
 * express-session. A session without a cookie is stored and returned, as in connect-mongo 6.
 */
import type { NormalizedOptions } from './options';
import { MongoStoreError, SessionCorruptError } from './errors';
import { createCipher } from './ciphers';
import { bsonProblem, jsonProblem, sizeProblem } from './storable';

export interface Encoded {
  stored: string | Record<string, unknown>;
  text?: string;
}

/** Without a cipher both directions are synchronous: a read without crypto adds no promise to the request. */
export interface Codec<S> {
  /** the value to store, and the session's text before any cipher when it is one (unchanged.ts digests it); throws what it refuses */
  encode(session: S, id: string): Encoded | Promise<Encoded>;
  decode(stored: unknown, id: string): S | Promise<S>;
}

/**
 * connect-mongo 6's object form (stringify: false, or a custom unserialize alone): a shallow copy whose `cookie`
 * (first, even when absent) is made plain data through toJSON; every other value stays as it is, for BSON.
 */
export function cookieAsJson(session: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = { cookie: session.cookie };
  for (const [k, v] of Object.entries(session)) out[k] = k === 'cookie' && v && typeof v.toJSON === 'function' ? v.toJSON() : v;
  return out;
}

/**
 * The default reader of a stored value: a JSON string is parsed, an object taken as it is, whichever `stringify` wrote
 * it. (connect-mongo 6 parses only with stringify: true, and only takes objects with stringify: false.)
 */
const readStored = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

/** connect-mongo 6 tries the decrypted text as JSON and keeps the text when it is not. */
function parseDecrypted(plaintext: string): unknown {
  try {
    return JSON.parse(plaintext);
  } catch {
    return plaintext;
  }
}

const refused = (why: string) => new MongoStoreError(`the session cannot be serialized: ${why}`, 'ERR_CONNECT_MONGO_SERIALIZE');

/**
 * JSON.stringify (ours, or a cipher's) or a cipher failed on `value`: what in it made it fail, its keys masked; else
 * code of the app's threw (a toJSON, a cryptoAdapter), and its error is the cause. V8's message for a cycle is never
 * passed on: it quotes the keys.
 */
function serializeError(e: unknown, value: unknown, step: string): MongoStoreError {
  const why = jsonProblem(value);
  if (why) return refused(why);
  if (e instanceof TypeError && /circular/i.test(e.message)) return refused('it contains a cycle');
  return new MongoStoreError(`the session cannot be serialized: ${step} threw ${(e as Error)?.name ?? typeof e}`, 'ERR_CONNECT_MONGO_SERIALIZE', { cause: e });
}

/**
 * set()'s first check, before anything waits or is sent: a session is an object (express-session's req.session).
 * connect-mongo 6 stores null, a string or an array, and hands a string or array back to express-session, which fails
 * on it in every request (express-session's MemoryStore fails reading a null too); here the set fails. With
 * serialize/unserialize of the app's own, what a session is stays the app's business (connect-mongo 6). The value is
 * never quoted: it is session data.
 */
export function sessionRefusal(session: unknown, opts: { serialize?: unknown; unserialize?: unknown }): Promise<never> | undefined {
  if (opts.serialize || opts.unserialize || (session !== null && typeof session === 'object' && !Array.isArray(session))) return undefined;
  const found = session === null ? 'null' : Array.isArray(session) ? 'an array' : session === undefined ? 'nothing' : `a ${typeof session}`;
  return Promise.reject(new MongoStoreError(`MongoStore.set(): a session must be an object (express-session's req.session), got ${found}`, 'ERR_CONNECT_MONGO_SERIALIZE'));
}

export function createCodec<S>(opts: Pick<NormalizedOptions<S>, 'serialize' | 'unserialize' | 'stringify' | 'crypto'>): Codec<S> {
  const cipher = opts.crypto && createCipher(opts.crypto);
  // connect-mongo 6's choice: either custom function switches to the object form for the one not given.
  const custom = !!(opts.serialize || opts.unserialize);
  const serialize: (s: S) => unknown = opts.serialize ?? (custom || !opts.stringify ? (s) => cookieAsJson(s as Record<string, unknown>) : (s) => JSON.stringify(s));
  // serialize alone: connect-mongo 6 reads the stored value back as it is (its `unit`), whatever it is.
  const unserialize: (v: any) => unknown = opts.unserialize ?? (custom ? (v: unknown) => v : readStored);

  return {
    encode(session, id) {
      let payload: unknown;
      try {
        payload = serialize(session);
      } catch (e) {
        // The app's own serialize() failing is the app's error, passed on as it is (as connect-mongo 6 does).
        throw opts.serialize ? e : serializeError(e, session, 'JSON.stringify');
      }
      if (typeof payload !== 'string' && (typeof payload !== 'object' || payload === null)) {
        throw refused('serialize() must return a string or an object');
      }
      // a toJSON() of the session that answers a string, null or an array would be stored, and fail every read
      if (!opts.serialize && !custom && opts.stringify && typeof payload === 'string' && !payload.startsWith('{')) {
        throw refused('its toJSON() must return an object');
      }
      if (!cipher) {
        // A document goes to the server as it is: refused here what a server would refuse, or drop the connection for.
        const why = typeof payload === 'object' ? bsonProblem(payload, id) : sizeProblem(payload, id);
        if (why) throw refused(why);
        return { stored: payload as string | Record<string, unknown>, text: typeof payload === 'string' ? payload : undefined };
      }
      return encrypted(payload, id);
    },

    decode(stored, id) {
      if (!cipher) return decodeClear(stored);
      // An unencrypted document in an encrypted store is refused: it could have been planted.
      if (typeof stored !== 'string') return Promise.reject(new SessionCorruptError('expected an encrypted string, found an unencrypted document'));
      // createCipher's decrypt is async, so an adapter that throws instead of rejecting still comes back as a rejection.
      return cipher.decrypt(stored, id).then((plaintext) => decodeClear(parseDecrypted(plaintext)), unreadable);
    },
  };

  async function encrypted(payload: unknown, id: string): Promise<Encoded> {
    let stored: string;
    try {
      stored = await cipher!.encrypt(payload, id);
    } catch (e) {
      throw e instanceof MongoStoreError ? e : serializeError(e, payload, 'encrypting it');
    }
    const tooBig = sizeProblem(stored, id);
    if (tooBig) throw refused(tooBig);
    return { stored, text: typeof payload === 'string' ? payload : undefined };
  }

  function decodeClear(value: unknown): S {
    let session: unknown;
    try {
      session = unserialize(value);
    } catch (e) {
      unreadable(e);
    }
    // With functions of the app's own, what they answer is the app's business (connect-mongo 6 returns it as is).
    // Else only a plain object is a session: a stored BSON Date or Binary is an object, yet express-session would
    // fail on it.
    if (!custom && !isPlainObject(session)) throw new SessionCorruptError('the session is not an object');
    return session as S;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (!v || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Any failure to read a stored value, as a SessionCorruptError that quotes none of it. */
function unreadable(e: unknown): never {
  if (e instanceof SessionCorruptError) throw e;
  // JSON.parse quotes the input in its message: never let session data into an error.
  const why = e instanceof SyntaxError ? 'it is not valid JSON' : (e as Error)?.message;
  throw new SessionCorruptError(`the stored session cannot be read: ${why}`);
}
