/** The optional-callback shape of every store method, and the types the store and its fallback share. */

export type Callback<T> = (err: any, value?: T) => void;

/** One live session as the iterator and entries() give it. */
export interface SessionEntry<S> {
  /** the stored _id: the sid itself, or its transformId form (never the sid when hashIds is on) */
  id: string;
  session: S;
  expires?: Date;
}

/** Runs the promise; with a callback, answers through it (on the next tick, so a throwing callback stays its own). */
export function answer<T>(work: Promise<T>, cb?: Callback<T>): Promise<T> | undefined {
  if (typeof cb !== 'function') return work;
  work.then(
    (v) => process.nextTick(cb, null, v),
    (e) => process.nextTick(cb, e),
  );
  return undefined;
}
