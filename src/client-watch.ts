/**
 * The stores' watchers of a client's monitoring (topology changes, each server check's outcome), behind one listener
 * per event on the client, shared by all its stores: 11 stores on one client would otherwise trip Node's
 * MaxListenersExceededWarning. The client may come from another copy of the driver: only its events are used.
 */
import type { TopologyDescriptionChangedEvent } from 'mongodb';
import { guardMonitors } from './monitor-watchdog';

type Emitter = { on(event: string, listener: (e: never) => void): unknown; off?(event: string, listener: (e: never) => void): unknown };

/** What a store hears of its client's monitoring: topology changes, and each server check's outcome. */
export interface Watcher {
  topology(e: TopologyDescriptionChangedEvent): void;
  heartbeat(address: string, failed: boolean): void;
}
const CLIENT_EVENTS = {
  topologyDescriptionChanged: (w: Watcher, e: TopologyDescriptionChangedEvent) => w.topology(e),
  serverHeartbeatSucceeded: (w: Watcher, e: { connectionId: string }) => w.heartbeat(e.connectionId, false),
  serverHeartbeatFailed: (w: Watcher, e: { connectionId: string }) => w.heartbeat(e.connectionId, true),
} as const;
/** the watchers of each client, and the one listener per event that serves them */
const WATCHERS = new WeakMap<object, { set: Set<Watcher>; listeners: Record<string, (e: never) => void>; unguard: () => void }>();

/** Adds `watcher` to the client's watchers (the client's listeners are attached with the first). */
export function watchClient(client: Emitter, watcher: Watcher) {
  let watchers = WATCHERS.get(client);
  if (!watchers) {
    const set = new Set<Watcher>();
    const listeners: Record<string, (e: never) => void> = {};
    for (const [event, deliver] of Object.entries(CLIENT_EVENTS)) {
      listeners[event] = (e: never) => {
        for (const w of set) deliver(w, e);
      };
      client.on(event, listeners[event]);
    }
    // the client's monitors guarded too, as long as a store watches it (monitor-watchdog.ts says against what)
    watchers = { set, listeners, unguard: guardMonitors(client) };
    WATCHERS.set(client, watchers);
  }
  watchers.set.add(watcher);
}

/** Removes `watcher`; the last one takes the client's listeners with it. */
export function unwatchClient(client: Emitter, watcher: Watcher) {
  const watchers = WATCHERS.get(client);
  if (!watchers) return;
  watchers.set.delete(watcher);
  if (watchers.set.size === 0 && typeof client.off === 'function') {
    for (const [event, listener] of Object.entries(watchers.listeners)) client.off(event, listener);
    watchers.unguard();
    WATCHERS.delete(client);
  }
}
