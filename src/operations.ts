/**
 * One store operation's life: refused after close() or a permanent failure, bounded by operationTimeoutMS (its wait
 * for a collection not known yet included), its error made readable, and known while it runs, so that close() lets
 * the running ones finish before the client goes.
 */
import type { Collection } from 'mongodb';
import type { SessionDocument } from '../generated';
import type { Connection } from './connection';
import { MongoStoreError } from './errors';
import { NO_ANSWER, WaitQueue, timeoutError } from './bounds';
import { permanentReason, readableError } from './driver-errors';

export class Operations {
  /** operations running now: close() lets them finish (each is bounded by operationTimeoutMS) before the client goes */
  readonly inFlight = new Set<Promise<unknown>>();
  /**
   * Operations waiting for a collection that is not known yet (a pending clientPromise, a mongoose connection not
   * open): one reaction on the pending promise serves them all, and one that times out leaves this set (and
   * inFlight), so a connection that never comes holds only the operations of the last operationTimeoutMS.
   */
  private waiters?: WaitQueue;
  /** close() was called: new operations are refused, errors of running ones say so */
  closing = false;

  constructor(
    private readonly connection: Connection,
    private readonly ms: number,
  ) {}

  /**
   * One store operation: refused after close, bounded by operationTimeoutMS, errors made readable. `signal()` is the
   * signal its commands carry: aborted by the timer that tells the caller it timed out, in the same callback, so that
   * the driver's waits end then too (server selection and check-out, which 7.x bounds by nothing else).
   */
  run<T>(name: string, body: (col: Collection<SessionDocument>, signal: () => AbortSignal) => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new MongoStoreError(`MongoStore.${name}() called after close()`, 'ERR_CONNECT_MONGO_CLOSED'));
    if (this.connection.fatal) return Promise.reject(this.connection.fatal);
    const ms = this.ms;
    // One promise and one timer per operation (no race/catch/finally chain: this is every request's hot path).
    const op = new Promise<T>((resolve, reject) => {
      let waiter: (() => void) | undefined;
      // Made on a command's demand (an operation may send none); one controller and no timer of its own: the cheap kind.
      let controller: AbortController | undefined;
      const signal = () => (controller ??= new AbortController()).signal;
      const timer = setTimeout(() => {
        // Timed out before it had a collection: nothing of this call stays behind (it never reaches the server).
        if (waiter) {
          this.waiters!.delete(waiter);
          this.inFlight.delete(op);
        }
        const waiting = this.connection.waitingFor;
        const err = timeoutError(name, ms, waiting ? `still waiting for ${waiting}` : NO_ANSWER);
        // a command asked for after this gets an aborted signal too (commandOptions refuses it by the clock as well)
        (controller ??= new AbortController()).abort(err);
        reject(err);
      }, ms);
      const go = () => {
        const col = this.connection.current;
        let done: Promise<T>;
        // A known collection: the body at once, not one more reaction on the collection's promise per call.
        if (col && !this.connection.fatal) {
          try {
            done = body(col, signal);
          } catch (e) {
            done = Promise.reject(e);
          }
        } else {
          done = this.connection.collection.then((c) => {
            if (this.connection.fatal) throw this.connection.fatal; // the first connect attempt's answer was "never"
            return body(c, signal);
          });
        }
        // After a timeout these settle a promise already rejected: a late failure is no unhandled rejection.
        done.then(
          (v) => {
            clearTimeout(timer);
            this.inFlight.delete(op);
            resolve(v);
          },
          (e) => {
            clearTimeout(timer);
            this.inFlight.delete(op);
            reject(this.readableError(e, name));
          },
        );
      };
      if (this.connection.current || this.waiters?.settled) go();
      else {
        // Not one reaction per call on a promise that may never settle: one queue, which a timed-out call leaves.
        waiter = () => {
          waiter = undefined;
          go();
        };
        (this.waiters ??= new WaitQueue(this.connection.collection)).add(waiter);
      }
    });
    this.inFlight.add(op);
    return op;
  }

  /** readableError, plus what only the store knows: a refused login or unusable configuration, a close() under way. */
  readableError(e: unknown, name: string): unknown {
    if (this.connection.fatal) return this.connection.fatal;
    const reason = permanentReason(e);
    if (reason) return this.connection.permanent(reason, e);
    return readableError(e, name, this.closing);
  }

  /** Settles when every operation running now has ended (each within operationTimeoutMS). */
  ended(): Promise<unknown> {
    return Promise.allSettled([...this.inFlight]);
  }
}
