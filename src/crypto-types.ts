/**
 * The types the crypto modules share, in a module that imports none of them (nor options.ts), so that options.ts,
 * kruptein.ts, crypto.ts, webcrypto.ts and ciphers.ts import one another in one direction only.
 */
import type { StoreOptions } from '../generated';

/** Bring-your-own encryption: both directions async, strings in and out. `context.id` is the stored _id. */
export interface CryptoAdapter {
  encrypt(plaintext: string, context?: { id: string }): Promise<string> | string;
  decrypt(ciphertext: string, context?: { id: string }): Promise<string> | string;
}

/**
 * connect-mongo 6's `crypto` option (and createKrupteinAdapter's argument), from the schema; a list of secrets (our
 * addition) may be any array here, since createKrupteinAdapter is also called from code.
 */
export type CryptoOptions = Omit<NonNullable<StoreOptions['crypto']>, 'secret'> & { secret: false | string | string[] };
