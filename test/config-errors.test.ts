/**
 * Malformed configs: each one gives an OptionsError naming the file, with the exact JSON path and message of every
 * problem, and none of them ever shows a secret (every case carries the recognisable fake password below where it
 * can, and the full error text is searched for it). Valid-file behaviour is in config.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OptionsError } from '../src';
import { loadConfig, loadConfigSync } from '../src/config/load';
import { repoRoot } from './server';

const FAKE = 'Fake-Pa55word-XYZ';
const URL = `mongodb://app:${FAKE}@127.0.0.1:27017/app`;
const j = (o: unknown) => JSON.stringify(o, null, 2);
interface Case { name: string; file?: string; body: string; env?: Record<string, string>; overrides?: Record<string, unknown> }
const CASES: Case[] = [
  { name: 'ttl: a string', body: j({ mongoUrl: URL, ttl: '14d' }) },
  { name: 'ttl: zero', body: j({ mongoUrl: URL, ttl: 0 }) },
  { name: 'ttl: above ten years', body: j({ mongoUrl: URL, ttl: 1e12 }) },
  { name: 'touchAfter: negative', body: j({ mongoUrl: URL, touchAfter: -1 }) },
  { name: 'autoRemoveInterval: zero (minutes)', body: j({ mongoUrl: URL, autoRemoveInterval: 0 }) },
  { name: 'operationTimeoutMS: too small', body: j({ mongoUrl: URL, operationTimeoutMS: 50 }) },
  { name: 'operationTimeoutMS: not an integer', body: j({ mongoUrl: URL, operationTimeoutMS: 1500.5 }) },
  { name: 'autoRemove: bad enum', body: j({ mongoUrl: URL, autoRemove: 'never' }) },
  { name: 'onCorruptSession: bad enum', body: j({ mongoUrl: URL, onCorruptSession: 'drop' }) },
  { name: 'stringify: a string', body: j({ mongoUrl: URL, stringify: 'yes' }) },
  { name: 'fallbackMemory: a number', body: j({ mongoUrl: URL, fallbackMemory: 1 }) },
  { name: 'timestamps: null', body: j({ mongoUrl: URL, timestamps: null }) },
  { name: 'unknown key: touchafter', body: j({ mongoUrl: URL, touchafter: 60 }) },
  { name: 'unknown key: mongoURL', body: j({ mongoURL: URL }) },
  { name: 'unknown key without a near name', body: j({ mongoUrl: URL, frobnicate: FAKE }) },
  { name: 'unknown nested key: wtimeoutMs', body: j({ mongoUrl: URL, writeOperationOptions: { wtimeoutMs: 100 } }) },
  { name: 'writeOperationOptions.w: 0', body: j({ mongoUrl: URL, writeOperationOptions: { w: 0 } }) },
  { name: 'writeOperationOptions.w: a boolean', body: j({ mongoUrl: URL, writeOperationOptions: { w: true } }) },
  { name: 'writeOperationOptions: a string', body: j({ mongoUrl: URL, writeOperationOptions: 'majority' }) },
  { name: 'mongoUrl: another scheme', body: j({ mongoUrl: `postgres://app:${FAKE}@127.0.0.1/app` }) },
  { name: 'mongoUrl: empty', body: j({ mongoUrl: '' }) },
  { name: 'mongoUrl: a number', body: j({ mongoUrl: 27017 }) },
  { name: 'mongoUrl: w=0', body: j({ mongoUrl: `${URL}?w=0` }) },
  { name: 'dbName: a dot', body: j({ mongoUrl: URL, dbName: 'my.db' }) },
  { name: 'dbName: too long', body: j({ mongoUrl: URL, dbName: 'd'.repeat(64) }) },
  { name: 'collectionName: system.', body: j({ mongoUrl: URL, collectionName: 'system.sessions' }) },
  { name: 'encryption.secret: too short', body: j({ mongoUrl: URL, encryption: { secret: 'short' } }) },
  { name: 'crypto: no secret', body: j({ mongoUrl: URL, crypto: {} }) },
  { name: 'crypto.secret: empty list', body: j({ mongoUrl: URL, crypto: { secret: [] } }) },
  { name: 'crypto.secret: a number', body: j({ mongoUrl: URL, crypto: { secret: 12345678 } }) },
  { name: 'encryption.secret: short item in list', body: j({ mongoUrl: URL, encryption: { secret: [FAKE, 'short'] } }) },
  { name: 'hashIds.secret: a number', body: j({ mongoUrl: URL, hashIds: { secret: 123456789 } }) },
  { name: 'hashIds: unknown key secrets', body: j({ mongoUrl: URL, hashIds: { secrets: FAKE } }) },
  { name: 'mongoOptions: a string holding a URL', body: j({ mongoUrl: URL, mongoOptions: URL }) },
  { name: '$schema: a number', body: j({ $schema: 7, mongoUrl: URL }) },
  { name: 'both mongoUrl and url (equal)', body: j({ mongoUrl: URL, url: URL }) },
  { name: 'both collection and collectionName', body: j({ mongoUrl: URL, collection: 'a', collectionName: 'a' }) },
  { name: 'mongoUrl and url differ', body: j({ mongoUrl: URL, url: 'mongodb://other:27017/x' }) },
  { name: 'no connection', body: j({ ttl: 60 }) },
  { name: 'no connection, NODE_ENV unset, env blocks', body: j({ ttl: 60, env: { production: { mongoUrl: URL } } }) },
  { name: 'no connection, no block for NODE_ENV', body: j({ ttl: 60, env: { production: { mongoUrl: URL } } }), env: { NODE_ENV: 'staging' } },
  { name: 'env: a string', body: j({ mongoUrl: URL, env: 'production' }) },
  { name: 'env block: a number', body: j({ mongoUrl: URL, env: { production: 5 } }) },
  { name: 'env block: nested env', body: j({ mongoUrl: URL, env: { production: { env: { eu: { ttl: 5 } } } } }) },
  { name: 'env block: bad name', body: j({ mongoUrl: URL, env: { 'prod uction': { ttl: 5 } } }) },
  { name: 'env block: bad value in an unselected block', body: j({ mongoUrl: URL, env: { production: { ttl: -5, autoRemove: 'sometimes' } } }) },
  { name: 'env block: both aliases in a block', body: j({ env: { production: { mongoUrl: URL, url: URL } } }), env: { NODE_ENV: 'production' } },
  { name: 'env block: w=0 in the selected block url', body: j({ mongoUrl: URL, env: { production: { url: `${URL}?w=0` } } }), env: { NODE_ENV: 'production' } },
  { name: 'env block: bad scheme in an unselected block', body: j({ mongoUrl: URL, env: { staging: { mongoUrl: `redis://:${FAKE}@cache:6379` } } }) },
  { name: 'variable: missing', body: j({ mongoUrl: '${CFGERR_URI}' }) },
  { name: 'variable: missing in the selected block', body: j({ mongoUrl: URL, env: { production: { hashIds: { secret: '${CFGERR_HASH}' } } } }), env: { NODE_ENV: 'production' } },
  { name: 'variable: invalid name', body: j({ mongoUrl: '${1URI}' }) },
  { name: 'variable: unterminated', body: j({ mongoUrl: 'mongodb://${HOST' }) },
  { name: 'variable: value not a connection string', body: j({ mongoUrl: '${CFGERR_URI}' }), env: { CFGERR_URI: `mysql://root:${FAKE}@db/app` } },
  { name: 'invalid JSON: trailing comma', body: `{\n  "mongoUrl": "${URL}",\n  "ttl": 60,\n}\n` },
  { name: 'invalid JSON: missing comma after the password line', body: `{\n  "mongoUrl": "${URL}"\n  "ttl": 60\n}\n` },
  { name: 'invalid JSON: truncated', body: `{\n  "mongoUrl": "${URL}",\n` },
  { name: 'invalid YAML: bad indentation', file: '.connect-mongorc.yaml', body: `mongoUrl: ${URL}\n ttl: 60\npassword: ${FAKE}\n` },
  { name: 'invalid YAML: duplicate key', file: '.connect-mongorc.yml', body: `mongoUrl: ${URL}\nmongoUrl: ${URL}\n` },
  { name: 'empty JSON file', body: '' },
  { name: 'blank YAML file', file: '.connect-mongorc.yaml', body: '  \n\n' },
  { name: 'YAML holding a list', file: '.connect-mongorc.yml', body: `- mongoUrl: ${URL}\n- ttl: 60\n` },
  { name: 'JSON holding a string', body: JSON.stringify(URL) },
  { name: 'JS module exporting a function', file: 'connect-mongo.config.cjs', body: `module.exports = () => ({ mongoUrl: '${URL}' });\n` },
  { name: 'JS module that throws', file: 'connect-mongo.config.cjs', body: `throw new Error('no config here');\n` },
  { name: 'JS module with a syntax error', file: 'connect-mongo.config.cjs', body: `module.exports = { mongoUrl: '${URL}' ;\n` },
  { name: 'driver: unknown option in mongoOptions', body: j({ mongoUrl: URL, mongoOptions: { bogusOption: 1, auth: { password: FAKE } } }) },
  { name: 'driver: port out of range', body: j({ mongoUrl: `mongodb://app:${FAKE}@127.0.0.1:99999/app` }) },
  { name: 'driver: mistyped option in the selected block', body: j({ mongoUrl: URL, env: { production: { mongoOptions: { maxPoolSize: 'lots' } } } }), env: { NODE_ENV: 'production' } },
  { name: 'overrides: wrong type from code', body: j({ mongoUrl: URL }), overrides: { touchAfter: 'often' } },
  { name: 'overrides: a function where an object goes', body: j({ mongoUrl: URL }), overrides: { serialize: 'JSON.stringify' } },
];

/** [path, message] of every issue, in order. */
const EXPECTED: Record<string, [string, string][]> = {
  "ttl: a string": [["/ttl","expected a number, found the string \"14d\""]],
  "ttl: zero": [["/ttl","expected a number >= 1 (seconds), found number 0"]],
  "ttl: above ten years": [["/ttl","expected a number <= 315360000 (seconds), found number 1000000000000"]],
  "touchAfter: negative": [["/touchAfter","expected a number >= 0 (seconds), found number -1"]],
  "autoRemoveInterval: zero (minutes)": [["/autoRemoveInterval","expected a number > 0 (minutes; this option is in minutes, not seconds or ms), found number 0"]],
  "operationTimeoutMS: too small": [["/operationTimeoutMS","expected a number >= 100 (ms), found number 50"]],
  "operationTimeoutMS: not an integer": [["/operationTimeoutMS","expected an integer, found number 1500.5"]],
  "autoRemove: bad enum": [["/autoRemove","expected one of \"native\", \"interval\", \"disabled\", found the string \"never\""]],
  "onCorruptSession: bad enum": [["/onCorruptSession","expected one of \"error\", \"ignore\", found the string \"drop\""]],
  "stringify: a string": [["/stringify","expected a boolean, found the string \"yes\""]],
  "fallbackMemory: a number": [["/fallbackMemory","expected a boolean, found number 1"]],
  "timestamps: null": [["/timestamps","expected a boolean, found null"]],
  "unknown key: touchafter": [["/touchafter","unknown option \"touchafter\" — did you mean \"touchAfter\"?"]],
  "unknown key: mongoURL": [["/mongoURL","unknown option \"mongoURL\" — did you mean \"mongoUrl\"?"]],
  "unknown key without a near name": [["/frobnicate","unknown option \"frobnicate\""]],
  "unknown nested key: wtimeoutMs": [["/writeOperationOptions/wtimeoutMs","unknown option \"wtimeoutMs\" — did you mean \"wtimeoutMS\"?"]],
  "writeOperationOptions.w: 0": [["/writeOperationOptions/w","expected a number >= 1, found number 0"]],
  "writeOperationOptions.w: a boolean": [["/writeOperationOptions/w","expected an integer or a string, found boolean true"]],
  "writeOperationOptions: a string": [["/writeOperationOptions","expected an object, found the string \"majority\""]],
  "mongoUrl: another scheme": [["/mongoUrl","expected a connection string starting with mongodb:// or mongodb+srv://, found \"postgres://app:****@127.0.0.1/app\""]],
  "mongoUrl: empty": [["/mongoUrl","must not be empty"]],
  "mongoUrl: a number": [["/mongoUrl","expected a string, found number 27017"]],
  "mongoUrl: w=0": [["/mongoUrl","w=0 (unacknowledged writes) in the connection string is refused; use w=1 or w=majority"]],
  "dbName: a dot": [["/dbName","expected a database name without / \\ . space \" $ * < > : | ?, found the string \"my.db\""]],
  "dbName: too long": [["/dbName","expected at most 63 characters, found 64"]],
  "collectionName: system.": [["/collectionName","expected a collection name without \"$\" or NUL that does not start with \"system.\", found the string \"system.sessions\""]],
  "encryption.secret: too short": [["/encryption/secret","expected at least 8 characters, found 5"]],
  "crypto: no secret": [["/crypto/secret","is required"]],
  "crypto.secret: empty list": [["/crypto/secret","expected at least 1 item(s)"]],
  "crypto.secret: a number": [["/crypto/secret","expected a string or an array or a boolean, found \"****\""]],
  "encryption.secret: short item in list": [["/encryption/secret/1","expected at least 8 characters, found 5"]],
  "hashIds.secret: a number": [["/hashIds/secret","expected a string, found \"****\""]],
  "hashIds: unknown key secrets": [["/hashIds/secret","is required"],["/hashIds/secrets","unknown option \"secrets\" — did you mean \"secret\"?"]],
  "mongoOptions: a string holding a URL": [["/mongoOptions","expected an object, found the string \"mongodb://app:****@127.0.0.1:27017/app\""]],
  "$schema: a number": [["/$schema","expected a string, found number 7"]],
  "both mongoUrl and url (equal)": [["/url","conflicts with mongoUrl (url is its alias): give only one of them"]],
  "both collection and collectionName": [["/collection","conflicts with collectionName (collection is its alias): give only one of them"]],
  "mongoUrl and url differ": [["/url","conflicts with mongoUrl (url is its alias): give only one of them"]],
  "no connection": [["/","You must provide either mongoUrl|clientPromise|client in options (or url, db, dbPromise, mongooseConnection): no connection was given"]],
  "no connection, NODE_ENV unset, env blocks": [["/","You must provide either mongoUrl|clientPromise|client in options (or url, db, dbPromise, mongooseConnection): no connection was given (no env block applied: NODE_ENV is not set; this file has blocks for production)"]],
  "no connection, no block for NODE_ENV": [["/","You must provide either mongoUrl|clientPromise|client in options (or url, db, dbPromise, mongooseConnection): no connection was given (the file has no env block for \"staging\"; its blocks: production)"]],
  "env: a string": [["/env","expected an object of per-environment blocks ({\"production\": {...}}), found the string \"production\""]],
  "env block: a number": [["/env/production","expected an object of options for environment \"production\", found number 5"]],
  "env block: nested env": [["/env/production/env","env blocks cannot be nested: put every environment directly under the top-level \"env\""]],
  "env block: bad name": [["/env/prod uction","invalid environment name \"prod uction\": expected letters, digits, _ . -"]],
  "env block: bad value in an unselected block": [["/env/production/ttl","expected a number >= 1 (seconds), found number -5"],["/env/production/autoRemove","expected one of \"native\", \"interval\", \"disabled\", found the string \"sometimes\""]],
  "env block: both aliases in a block": [["/env/production/url","conflicts with mongoUrl (url is its alias): give only one of them"]],
  "env block: w=0 in the selected block url": [["/env/production/url","w=0 (unacknowledged writes) in the connection string is refused; use w=1 or w=majority"]],
  "env block: bad scheme in an unselected block": [["/env/staging/mongoUrl","expected a connection string starting with mongodb:// or mongodb+srv://, found \"redis://:****@cache:6379\""]],
  "variable: missing": [["/mongoUrl","environment variable CFGERR_URI is not set and ${CFGERR_URI} has no default (set it, or write ${CFGERR_URI:-default})"]],
  "variable: missing in the selected block": [["/env/production/hashIds/secret","environment variable CFGERR_HASH is not set and ${CFGERR_HASH} has no default (set it, or write ${CFGERR_HASH:-default})"]],
  "variable: invalid name": [["/mongoUrl","invalid variable reference ${1URI}: expected ${NAME} or ${NAME:-default} with NAME of letters, digits and _"]],
  "variable: unterminated": [["/mongoUrl","unterminated variable reference \"${\" (write \"$${\" for a literal \"${\")"]],
  "variable: value not a connection string": [["/mongoUrl","expected a connection string starting with mongodb:// or mongodb+srv://, found \"mysql://root:****@db/app\" (from ${CFGERR_URI})"]],
  "invalid JSON: trailing comma": [["/","invalid JSON at line 4, column 1: Expected double-quoted property name"]],
  "invalid JSON: missing comma after the password line": [["/","invalid JSON at line 3, column 3: Expected ',' or '}' after property value"]],
  "invalid JSON: truncated": [["/","invalid JSON at line 3, column 1: Expected double-quoted property name"]],
  "invalid YAML: bad indentation": [["/","invalid YAML at line 2, column 5: bad indentation of a mapping entry"]],
  "invalid YAML: duplicate key": [["/","invalid YAML at line 2, column 1: duplicated mapping key"]],
  "empty JSON file": [["/","the file is empty: expected an object of options, e.g. {\"mongoUrl\": \"${MONGODB_URI}\"}"]],
  "blank YAML file": [["/","the file is empty: expected an object of options, e.g. {\"mongoUrl\": \"${MONGODB_URI}\"}"]],
  "YAML holding a list": [["/","expected an object of options, found an array of 2"]],
  "JSON holding a string": [["/","expected an object of options, found the string \"mongodb://app:****@127.0.0.1:27017/app\""]],
  "JS module exporting a function": [["/","expected an object of options, found a function"]],
  "JS module that throws": [["/","invalid JavaScript module: no config here"]],
  "JS module with a syntax error": [["/","invalid JavaScript module: Unexpected token ';'"]],
  "overrides: wrong type from code": [["/touchAfter","expected a number, found the string \"often\" (set in code, by overrides)"]],
  "overrides: a function where an object goes": [["/serialize","expected a function, found the string \"JSON.stringify\" (set in code, by overrides)"]],
  "driver: unknown option in mongoOptions": [["/mongoOptions/bogusOption","the MongoDB driver refuses it: option bogusoption is not supported"]],
  "driver: port out of range": [["/mongoUrl","the MongoDB driver refuses it: Unable to parse 127.0.0.1:99999 with URL"]],
  "driver: mistyped option in the selected block": [["/env/production/mongoOptions/maxPoolSize","the MongoDB driver refuses it: Expected maxPoolSize to be stringified int value, got: lots"]],
};

const tmp = join(repoRoot, '.tmp', `config-errors-${process.pid}`);
test.before(() => void mkdirSync(tmp, { recursive: true }));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('the table is big enough and every case has its expectation', () => {
  assert.ok(CASES.length >= 30, `${CASES.length} cases`);
  assert.equal(Object.keys(EXPECTED).sort(), CASES.map((c) => c.name).sort());
  assert.ok(CASES.filter((c) => c.body.includes(FAKE)).length >= 30, 'most cases carry the fake password');
});

CASES.forEach((c, i) => {
  test(`malformed: ${c.name}`, async () => {
    const dir = join(tmp, String(i));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, c.file ?? 'connect-mongo.config.json');
    writeFileSync(file, c.body);
    let err: unknown;
    try {
      await loadConfig({ configPath: file, env: c.env ?? {}, overrides: c.overrides as never });
    } catch (e) {
      err = e;
    }
    assert.instance(err, OptionsError, 'an OptionsError');
    const e = err as OptionsError;
    assert.is(e.source, file, 'names the file');
    assert.is(e.code, 'ERR_CONNECT_MONGO_OPTIONS');
    assert.equal(e.issues.map((x) => [x.path, x.message]), EXPECTED[c.name]);
    for (const x of e.issues) assert.ok(e.message.includes(`${x.path}: ${x.message}`), 'the message lists every issue');
    assert.ok(e.message.includes(file), 'the message names the file');
    const everything = `${e.message}\n${JSON.stringify(e.issues)}\n${e.stack ?? ''}`;
    assert.not.ok(everything.includes(FAKE), 'never shows the secret');
    // The sync loader reports the same thing.
    if (!c.file?.endsWith('.mjs')) {
      let syncErr: unknown;
      try {
        loadConfigSync({ configPath: file, env: c.env ?? {}, overrides: c.overrides as never });
      } catch (se) {
        syncErr = se;
      }
      assert.equal((syncErr as OptionsError).issues, e.issues, 'sync gives the same issues');
    }
  });
});

test.run();
