/**
 * What a driver error means, read from its name, code and error labels only. Never `instanceof` a class of our copy
 * of `mongodb`: a client from another copy (mongoose's own, an app's older driver) throws errors of other classes.
 */
import { BSON } from 'mongodb';
import { MongoStoreError } from './errors';

type DriverError = { name?: unknown; code?: unknown; codeName?: unknown; errorLabels?: unknown; hasErrorLabel?: unknown; cause?: unknown };

const asError = (e: unknown): DriverError => (e && typeof e === 'object' ? (e as DriverError) : {});

/** The driver's `hasErrorLabel`, or its `errorLabels` array (every major since 4 has one of them). */
export function hasErrorLabel(e: unknown, label: string): boolean {
  const err = asError(e);
  if (typeof err.hasErrorLabel === 'function') return !!(err.hasErrorLabel as (l: string) => boolean).call(e, label);
  return Array.isArray(err.errorLabels) && err.errorLabels.includes(label);
}

export const codeOf = (e: unknown): number | undefined => (typeof asError(e).code === 'number' ? (asError(e).code as number) : undefined);
const nameOf = (e: unknown): string => (typeof asError(e).name === 'string' ? (asError(e).name as string) : '');

/** An error the server sent back (it was reached and answered no). */
export function isServerError(e: unknown): boolean {
  return /^Mongo(Server|WriteConcern|BulkWrite)Error$/.test(nameOf(e)) && codeOf(e) !== undefined;
}

export const DUPLICATE_KEY = 11000;
export const isDuplicateKey = (e: unknown): boolean => codeOf(e) === DUPLICATE_KEY && /^Mongo(Server|BulkWrite)Error$/.test(nameOf(e));
export const isNamespaceNotFound = (e: unknown): boolean => codeOf(e) === 26 && isServerError(e);

/**
 * A raw socket error the driver lets through unwrapped (mongodb 7: a write to a pooled connection the server closed
 * rejects with Node's EPIPE "This socket has been ended by the other party", not a MongoNetworkError).
 */
function isSocketError(e: unknown): boolean {
  const code = asError(e).code;
  return typeof code === 'string' && /^E(PIPE|CONNRESET|CONNREFUSED|CONNABORTED|TIMEDOUT|HOSTUNREACH|NETUNREACH)$/.test(code);
}

const UNREACHABLE_NAMES = /^Mongo(NetworkError|NetworkTimeoutError|ServerSelectionError|TopologyClosedError|ServerClosedError)$/;

/**
 * The server cannot be reached now (selection timed out, the connection dropped, the topology closed after a failed
 * first connect, no primary for a while): worth retrying, and what the store reports as "cannot reach MongoDB".
 * Auth and configuration failures carry 'ResetPool'/'HandshakeError' too, so they are excluded first.
 */
export function isUnreachable(e: unknown): boolean {
  if (permanentReason(e)) return false;
  return UNREACHABLE_NAMES.test(nameOf(e)) || isSocketError(e) || hasErrorLabel(e, 'ResetPool') || hasErrorLabel(e, 'RetryableWriteError');
}

/** The client was closed under a running operation (by close(), or by the app). */
export const isClientClosed = (e: unknown): boolean => /^Mongo(ClientClosedError|ExpiredSessionError|PoolClosedError|TopologyClosedError|ServerClosedError)$/.test(nameOf(e)) || (nameOf(e) === 'MongoNotConnectedError');

/** Server codes that mean "these credentials will not work": retrying only locks accounts. */
const AUTH_CODES = new Set([18 /* AuthenticationFailed */, 11 /* UserNotFound */, 334 /* MechanismUnavailable */]);
/** Driver errors that no retry heals, whenever they come: missing credentials or an optional module they need. */
const CREDENTIAL_NAMES = /^Mongo(MissingCredentialsError|MissingDependencyError|AWSError|AzureMachineError|GCPError)$/;
/** Driver errors that, from connect(), say the options cannot work. Thrown by one operation they may be its own. */
const CONFIG_NAMES = /^Mongo(ParseError|InvalidArgumentError|CompatibilityError|RuntimeError)$/;
/** Node errors from connect(): a TLS file that cannot be read, a certificate the client refuses. */
const CONFIG_CODES = /^(ENOENT|EACCES|EISDIR|ERR_OSSL_.*|ERR_TLS_.*|ERR_SSL_.*|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_.*|CERT_.*)$/;

/**
 * Why a failure will never go away by retrying, or undefined: 'auth' (the server refused the credentials), 'config'
 * (missing credentials or an optional module; with `fromConnect`, also an invalid option, an unreadable TLS file, a
 * certificate the client refuses: errors that, from an operation, could be that operation's own).
 */
export function permanentReason(e: unknown, fromConnect = false, depth = 0): 'auth' | 'config' | undefined {
  const err = asError(e);
  // Operations that shared the pool with the failed login get MongoPoolClearedError, its cause the real reason.
  if (nameOf(e) === 'MongoPoolClearedError' && err.cause && depth < 3) return permanentReason(err.cause, fromConnect, depth + 1);
  const code = codeOf(e);
  if ((code !== undefined && AUTH_CODES.has(code) && isServerError(e)) || (err.codeName === 'AuthenticationFailed' && /^Mongo/.test(nameOf(e)))) return 'auth';
  if (CREDENTIAL_NAMES.test(nameOf(e))) return 'config';
  if (fromConnect && (CONFIG_NAMES.test(nameOf(e)) || (typeof err.code === 'string' && CONFIG_CODES.test(err.code)))) return 'config';
  return undefined;
}
/**
 * Codes with which a server refuses a TTL index for good: it does not implement it (238 NotImplemented,
 * 115 CommandNotSupported, 59 CommandNotFound), an index on `expires` with other options exists (85
 * IndexOptionsConflict, 86 IndexKeySpecsConflict, 68 IndexAlreadyExists), the index is invalid here (67
 * CannotCreateIndex, 197 InvalidIndexSpecificationOption, 2 BadValue), or the user may not create it (13
 * Unauthorized). Anything else (a stepdown, a shutdown in progress, an interrupted build, a network blip) is retried.
 */
const TTL_NEVER = new Set([238, 115, 59, 85, 86, 68, 67, 197, 2, 13]);
export const isTtlRefusalFinal = (e: unknown): boolean => isServerError(e) && TTL_NEVER.has(codeOf(e)!);

/**
 * A driver error as the store reports it (by name, code and labels: the client may be another copy of the driver).
 * The client closed under the operation (by close(), or by the app): ERR_CONNECT_MONGO_CLOSED. Server gone (selection
 * timed out, connection dropped mid-operation, topology closed by a failed first connect): one clear error; the
 * client keeps reconnecting on its own.
 */
export function readableError(e: unknown, name: string, closing = false): unknown {
  if (isClientClosed(e) && (closing || !/TopologyClosed|ServerClosed/.test((e as Error).name))) {
    return new MongoStoreError(`MongoStore.${name}() was cut short: the MongoDB client was closed${closing ? ' (store.close())' : ''}`, 'ERR_CONNECT_MONGO_CLOSED', { cause: e });
  }
  // the driver's own bounds (6.x's CSOT timeoutMS, a pool's wait-queue timeout, a DOM abort's names): the command was
  // ended, on the wire too. The store's signal (operations.ts) needs none of this: its reason is the store's error.
  if (/^(MongoOperationTimeoutError|MongoWaitQueueTimeoutError|TimeoutError|AbortError)$/.test(nameOf(e))) {
    return new MongoStoreError(`MongoStore.${name}() timed out: MongoDB did not answer in time (see operationTimeoutMS)`, 'ERR_CONNECT_MONGO_TIMEOUT', { cause: e });
  }
  if (isUnreachable(e)) {
    return new MongoStoreError(`MongoStore.${name}() cannot reach MongoDB: ${(e as Error).message}`, 'ERR_CONNECT_MONGO_TIMEOUT', { cause: e });
  }
  // a bulkWrite's driver error (its timeout, a lost connection) comes wrapped in a MongoBulkWriteError with no code
  // and no write error: what it wraps is one of the above
  if (nameOf(e) === 'MongoBulkWriteError' && codeOf(e) === undefined && !(e as { writeErrors?: unknown[] }).writeErrors?.length) {
    return /timed out/i.test((e as Error).message)
      ? new MongoStoreError(`MongoStore.${name}() timed out: MongoDB did not answer in time (see operationTimeoutMS)`, 'ERR_CONNECT_MONGO_TIMEOUT', { cause: e })
      : new MongoStoreError(`MongoStore.${name}() cannot reach MongoDB: ${(e as Error).message}`, 'ERR_CONNECT_MONGO_TIMEOUT', { cause: e });
  }
  // stringify: false hands the session to the driver, whose BSON encoder refuses cycles while building the command
  // (nothing is sent): the same error as a session JSON cannot encode.
  // Neither the encoder's message nor the server's is passed on (nor kept as the cause): both can quote the session's
  // keys. A server's BadValue (2) on a set is FerretDB's "invalid value/key" for a session it cannot store.
  if (name === 'set' && (BSON.BSONError.isBSONError(e) || (isServerError(e) && codeOf(e) === 2))) {
    return new MongoStoreError(`the session cannot be serialized: ${BSON.BSONError.isBSONError(e) ? 'the BSON encoder refused it' : 'the server refused a value or key of it (code 2)'}`, 'ERR_CONNECT_MONGO_SERIALIZE');
  }
  // A session over BSON's 16 MB makes the encoder write past its buffer: Node's RangeError, nothing sent.
  if (name === 'set' && (e as { code?: unknown })?.code === 'ERR_OUT_OF_RANGE') {
    return new MongoStoreError('the session cannot be serialized: it is larger than a MongoDB document may be (16 MB)', 'ERR_CONNECT_MONGO_SERIALIZE', { cause: e });
  }
  return e;
}
