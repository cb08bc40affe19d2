/**
 * A guard against a hang of the Node driver's server monitor (seen with mongodb 7.9): a server check that starts on
 * the monitor's connection just as the peer closes it (every connection of a server cut at once: a restart, a
 * proxy, a half-open network that heals) writes its hello to a destroyed socket and waits for 'drain' for ever. No
 * 'drain', no error and no timeout ever come, so the server stays Unknown, the pool stays paused, and every operation
 * of that client fails server selection until the process restarts (the soak found it: docs/reliability.md).
 *
 * While a check is under way this looks at the monitor's socket every POLL_MS (through the driver's private fields:
 * where they are not found it does nothing). A destroyed socket with a write waiting for 'drain' can never answer: an
 * error on it ends that wait, the driver counts the check failed and connects again.
 */
import { debug } from './debug';

const POLL_MS = 250;

type Emitter = { on(event: string, listener: (e: never) => void): unknown; off?(event: string, listener: (e: never) => void): unknown };
type Socket = { destroyed?: boolean; listenerCount?(event: string): number; emit(event: string, e: Error): boolean };

/** The socket of the monitor of `address`, if the driver's internals are as 7.x has them. */
function monitorSocket(client: unknown, address: string): Socket | undefined {
  const servers = (client as { topology?: { s?: { servers?: Map<string, { monitor?: { connection?: { socket?: Socket } } }> } } })?.topology?.s?.servers;
  return typeof servers?.get === 'function' ? servers.get(address)?.monitor?.connection?.socket : undefined;
}

/** Starts guarding `client`'s monitors; answers the function that stops it. */
export function guardMonitors(client: Emitter): () => void {
  const polls = new Map<string, NodeJS.Timeout>();
  const end = (address: string) => {
    clearInterval(polls.get(address));
    polls.delete(address);
  };
  const started = (e: { connectionId: string }) => {
    const address = e.connectionId;
    end(address);
    const poll = setInterval(() => {
      const socket = monitorSocket(client, address);
      if (!socket?.destroyed || !(socket.listenerCount?.('drain') && socket.listenerCount('error'))) return;
      end(address);
      debug('the driver’s check of %s waits on a closed connection: ending it', address);
      socket.emit('error', new Error('connect-mongo: the server check waited on a closed connection'));
    }, POLL_MS);
    poll.unref();
    polls.set(address, poll);
  };
  const finished = (e: { connectionId: string }) => end(e.connectionId);
  const listeners = { serverHeartbeatStarted: started, serverHeartbeatSucceeded: finished, serverHeartbeatFailed: finished } as Record<string, (e: never) => void>;
  for (const [event, listener] of Object.entries(listeners)) client.on(event, listener);
  return () => {
    for (const [event, listener] of Object.entries(listeners)) client.off?.(event, listener);
    for (const address of [...polls.keys()]) end(address);
  };
}
