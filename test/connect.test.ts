/**
 * Connect 3 (no router, no res.json) + express-session + the store on the real server: one request cycle with a
 * cookie, through the classic factory form the connect-mongo README gave for Connect 3.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { IncomingMessage, ServerResponse } from 'node:http';
import request from 'supertest';
import session from 'express-session';
import connect from 'connect';
import connectMongo from '../src';
import { openTestDb, type TestDb } from './helpers';

let t: TestDb;
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => void (await t?.close()));

test('Connect 3: a session set in one request is there in the next, stored in the collection', async () => {
  const MongoStore = connectMongo(session);
  const store = new MongoStore({ client: t.client, dbName: t.dbName });
  store.on('warning', () => {}); // FerretDB refuses the TTL index: the interval fallback is expected
  try {
    const app = connect();
    // express-session's types are written for Express's req/res; at run time it is plain Connect middleware.
    app.use(session({ secret: 'connect-e2e', store, resave: false, saveUninitialized: false }) as unknown as connect.NextHandleFunction);
    app.use((req: IncomingMessage, res: ServerResponse) => {
      const s = (req as IncomingMessage & { session: any }).session;
      s.views = (s.views ?? 0) + 1;
      res.setHeader('content-type', 'text/plain');
      res.end(`views=${s.views}`);
    });

    const first = await request(app).get('/').expect(200, 'views=1');
    const cookie = (first.headers['set-cookie'] as unknown as string[] | undefined)?.[0]?.split(';')[0];
    assert.ok(cookie, 'a session cookie');
    const sid = decodeURIComponent(cookie!.split('=')[1]).replace(/^s:/, '').replace(/\.[^.]*$/, '');
    const doc = await t.db.collection('sessions').findOne({ _id: sid as any });
    assert.ok(doc, 'stored in the default collection "sessions" under the sid');
    assert.is(JSON.parse(doc!.session).views, 1, 'stringified, as connect-mongo stores it');

    await request(app).get('/').set('Cookie', cookie!).expect(200, 'views=2');
    assert.is(JSON.parse((await t.db.collection('sessions').findOne({ _id: sid as any }))!.session).views, 2);
    assert.is(await store.length(), 1);
  } finally {
    await store.close();
  }
});

test.run();
