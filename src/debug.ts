/** The `debug` namespace `connect-mongo`; session ids appear only as a short hash, never as themselves. */
import { createHash } from 'node:crypto';
import createDebug from 'debug';

export const debug = createDebug('connect-mongo');

/** 8 characters of the sid's SHA-256: enough to follow one session through a log, useless to resume it. */
export function sidTag(sid: unknown): string {
  return typeof sid === 'string' ? `#${createHash('sha256').update(sid).digest('base64url').slice(0, 8)}` : `(${typeof sid})`;
}

/** debug() with a sid first: the sid is hashed only when the namespace is on (every operation calls this). */
export function debugSid(format: string, sid: string, ...args: unknown[]): void {
  if (debug.enabled) debug(format, sidTag(sid), ...args);
}
