/**
 * Encryption at rest: AES-256-GCM from node:crypto. The key comes from the secret through scrypt (once per store);
 * every write has a fresh 96-bit IV; the stored _id is the additional authenticated data, so a ciphertext moved to
 * another session fails authentication like a modified one. Format: "cm1:" + base64(iv | tag | ciphertext).
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync, createHmac } from 'node:crypto';
import type { CryptoAdapter } from './crypto-types';
import { SessionCorruptError } from './errors';

export const AES_GCM_PREFIX = 'cm1:';
const PREFIX = AES_GCM_PREFIX;
const IV = 12;
const TAG = 16;

export function aesGcmAdapter(secrets: string[]): CryptoAdapter {
  // A fixed salt is fine here: the salt's job (distinct keys for equal passwords across sites) is done by the secret.
  const keys = secrets.map((s) => scryptSync(s, 'connect-mongo:aes-256-gcm:v1', 32, { N: 16384, r: 8, p: 1 }));
  return {
    encrypt(plaintext, context) {
      const iv = randomBytes(IV);
      const cipher = createCipheriv('aes-256-gcm', keys[0], iv);
      cipher.setAAD(Buffer.from(context?.id ?? '', 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
    },
    decrypt(stored, context) {
      if (typeof stored !== 'string' || !stored.startsWith(PREFIX)) {
        throw new SessionCorruptError('the stored session is not encrypted by this store (no "cm1:" prefix)');
      }
      const raw = Buffer.from(stored.slice(PREFIX.length), 'base64');
      if (raw.length < IV + TAG) throw new SessionCorruptError('the stored ciphertext is truncated');
      const iv = raw.subarray(0, IV);
      const tag = raw.subarray(IV, IV + TAG);
      const ct = raw.subarray(IV + TAG);
      for (const key of keys) {
        try {
          const d = createDecipheriv('aes-256-gcm', key, iv);
          d.setAAD(Buffer.from(context?.id ?? '', 'utf8'));
          d.setAuthTag(tag);
          return Buffer.concat([d.update(ct), d.final()]).toString('utf8');
        } catch {
          // wrong key or tampered data: try the next key, if any
        }
      }
      throw new SessionCorruptError('the stored session failed authentication: wrong secret, or the data was modified');
    },
  };
}

/** hashIds: the _id stored is an HMAC of the sid, so a copy of the collection resumes no session. */
export function hmacId(secret: string): (id: string) => string {
  return (id) => createHmac('sha256', secret).update(id, 'utf8').digest('base64url');
}
