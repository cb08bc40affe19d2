/**
 * The example app (`npm start`, examples/express-app/) end to end: the app runs as its own process, exactly as a user
 * starts it, and a headless Chromium (driven by playwright-core) clicks through it. The sessions are checked in the
 * collection with the driver. The browser comes from the @sparticuz/chromium dev dependency (or CHROMIUM_PATH), see
 * test/browser.ts: no root, nothing installed by hand, and it stays off the network.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { dbNameFor, openTestDb, isFerret, type TestDb } from './helpers';
import { repoRoot, tmpRoot } from './server';
import { findBrowser, OFFLINE_ARGS, type Browser as FoundBrowser } from './browser';

const COOKIE = 'example.sid';
const artifacts = join(repoRoot, 'test-artifacts');

interface App {
  child: ChildProcess;
  url: string;
  output(): string;
  /** SIGTERM, as Ctrl-C would; resolves the exit code */
  stop(): Promise<number | null>;
}
const apps = new Set<App>();

/** Starts `examples/express-app/start.ts` as `npm start` would, on a free port; resolves once it prints its URL. */
async function startApp(env: NodeJS.ProcessEnv): Promise<App> {
  // Its own process group, so that a forced kill in the cleanup also takes a FerretDB it started.
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/express-app/start.ts'], {
    cwd: repoRoot,
    env: { ...process.env, PORT: '0', NODE_ENV: 'development', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const app: App = {
    child,
    url: '',
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const code = await exited;
      apps.delete(app);
      return code;
    },
  };
  apps.add(app);
  const deadline = Date.now() + 240_000; // the first start may build FerretDB
  for (;;) {
    const m = /listening on (http:\/\/\S+\/)/.exec(out);
    if (m) return Object.assign(app, { url: m[1] });
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the example app exited before listening:\n${out}`);
    if (Date.now() > deadline) throw new Error(`the example app printed no URL:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function killAll() {
  for (const a of apps) {
    try {
      process.kill(-a.child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  apps.clear();
}
process.once('exit', killAll);

/** The sid inside express-session's signed cookie value `s:<sid>.<signature>`. */
async function sidOf(ctx: BrowserContext): Promise<string | undefined> {
  const c = (await ctx.cookies()).find((k) => k.name === COOKIE);
  if (!c) return undefined;
  const v = decodeURIComponent(c.value);
  assert.ok(v.startsWith('s:'), 'the session cookie is signed');
  return v.slice(2, v.lastIndexOf('.'));
}

const text = async (page: Page, id: string) => ((await page.getByTestId(id).textContent()) ?? '').trim();

let t: TestDb;
// Every browser opened, each with its profile in .tmp/: closed and removed after the tests.
const opened: Array<{ ctx: BrowserContext; dir: string }> = [];

/**
 * A browser of its own (a device): a persistent context, whose profile and everything the browser writes outside it
 * (temp files, caches, fontconfig, .pki) land in .tmp/.
 */
async function openDevice(browser: FoundBrowser): Promise<{ ctx: BrowserContext; page: Page }> {
  const dir = mkdtempSync(join(tmpRoot, 'chromium-'));
  const browserTmp = join(dir, 'tmp');
  mkdirSync(browserTmp);
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: browser.path,
    headless: true,
    args: OFFLINE_ARGS,
    env: { ...process.env, HOME: dir, TMPDIR: browserTmp, XDG_CONFIG_HOME: join(dir, 'config'), XDG_CACHE_HOME: join(dir, 'cache') },
    viewport: { width: 1000, height: 760 },
  });
  opened.push({ ctx, dir });
  return { ctx, page: ctx.pages()[0] ?? (await ctx.newPage()) };
}

async function logIn(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('user').waitFor();
  // express-session sends all of a page but its last byte before the session is saved: 'load' (the whole page) is
  // after the save, so that the next step reads what this page stored.
  await page.waitForLoadState('load');
}

test.before(async () => {
  t = await openTestDb(__filename);
  mkdirSync(tmpRoot, { recursive: true });
  mkdirSync(artifacts, { recursive: true });
});
test.after(async () => {
  for (const o of opened) await o.ctx.close().catch(() => {});
  for (const a of [...apps]) await Promise.race([a.stop(), new Promise((r) => setTimeout(r, 10_000))]);
  killAll();
  for (const o of opened) rmSync(o.dir, { recursive: true, force: true });
  await t?.close();
});

test('in chromium: counter, log-in, restart of the app, admin list, log-out', async () => {
  const browser = await findBrowser();
  console.log(`# browser: ${browser.source}`);
  const sessions = t.db.collection<{ _id: string; session: any; expires: Date; userId?: string }>('sessions');
  const appEnv = { MONGODB_URI: t.uri, EXAMPLE_DB_NAME: t.dbName };
  let app = await startApp(appEnv);
  assert.match(app.output(), 'server: MONGODB_URI');
  assert.match(app.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);

  const { ctx, page } = await openDevice(browser);

  // Off the network: no host name resolves, not even "localhost" (which would reach the app without the rule), so
  // nothing but 127.0.0.1 is ever asked for. In a page of its own: its error page would interrupt the next goto.
  const probe = await ctx.newPage();
  const byName = app.url.replace('127.0.0.1', 'localhost');
  const outside = await probe.goto(byName).then((r) => `loaded (${r?.status()})`, (e: Error) => e.message);
  assert.match(outside, 'net::ERR_NAME_NOT_RESOLVED', `the browser resolved a host name: ${byName} ${outside}`);
  await probe.close();

  // Two visits: the counter kept in the session rises, and the session is one document of the collection.
  await page.goto(app.url);
  assert.is(await text(page, 'views'), '1');
  await page.goto(app.url);
  assert.is(await text(page, 'views'), '2');
  const anonSid = await sidOf(ctx);
  assert.ok(anonSid, 'the browser holds a session cookie');
  const anonDoc = await sessions.findOne({ _id: anonSid });
  assert.ok(anonDoc, 'the session is stored under its sid');
  assert.is(anonDoc.session.views, 2);
  assert.is(await text(page, 'sid'), `${anonSid.slice(0, 6)}…`);

  // Log in: the name shows (escaped, not interpreted), and the session got a new id (regenerate).
  const name = 'Ada <b>Lovelace</b> & "co"';
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('user').waitFor();
  assert.is(await text(page, 'user'), name);
  assert.is(await page.locator('[data-testid=user] b').count(), 0, 'the name is shown as text, not as HTML');
  assert.is(await text(page, 'views'), '3', 'the counter carries over the log-in');
  const sid = (await sidOf(ctx))!;
  assert.is.not(sid, anonSid, 'logging in regenerated the session id');
  assert.is(await sessions.findOne({ _id: anonSid, session: { $ne: null } }), null, 'the pre-login session is gone (a destroy leaves only an expired marker without it)');
  assert.is((await sessions.findOne({ _id: sid }))?.session.user, name);
  assert.is((await sessions.findOne({ _id: sid }))?.userId, name, 'the config\'s userId option keeps the user at the top level');
  assert.is(await text(page, 'device-count'), '1', 'one device of this user: this one');

  // Restart the app process (SIGTERM, as Ctrl-C): it exits cleanly, and the session survives in the database.
  assert.is(await app.stop(), 0, `the app exits with 0 on SIGTERM:\n${app.output()}`);
  assert.match(app.output(), 'stopped');
  app = await startApp(appEnv);
  await page.goto(app.url); // a new port; cookies are per host, not per port
  assert.is(await text(page, 'user'), name, 'still logged in after the restart');
  assert.is(await text(page, 'views'), '4');
  assert.is(await sidOf(ctx), sid);
  await page.screenshot({ path: join(artifacts, 'example-app-home.png'), fullPage: true });

  // The admin view lists the live sessions from the store, with shortened ids only.
  await sessions.insertOne({ _id: 'someone-elses-session-id', session: { cookie: { originalMaxAge: null }, views: 7, user: 'Grace' }, expires: new Date(Date.now() + 3_600_000) });
  await page.getByRole('link', { name: 'Live sessions' }).click();
  assert.is(await text(page, 'count'), '2');
  const rows = page.locator('[data-testid=sessions] tbody tr');
  assert.is(await rows.count(), 2);
  const cells = async (i: number) => (await rows.nth(i).locator('td').allTextContents()).map((c) => c.trim());
  const [mine, other] = [await cells(0), await cells(1)];
  assert.equal(mine.slice(0, 3), [`${sid.slice(0, 6)}… (you)`, name, '4']);
  assert.match(mine[3], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in (59|60) min\)$/, 'expiry: the cookie lasts an hour');
  assert.equal(other.slice(0, 3), ['someon…', 'Grace', '7']);
  const html = await page.content();
  assert.not.match(html, sid, 'no full session id on the page');
  assert.not.match(html, 'someone-elses-session-id');
  await page.screenshot({ path: join(artifacts, 'example-app-admin.png'), fullPage: true });

  // Log out: the session document leaves the collection, and the page offers the log-in form again.
  await page.goto(app.url);
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.getByLabel('Name').waitFor();
  assert.is(await sessions.findOne({ _id: sid, session: { $ne: null } }), null, 'the destroyed session is gone from the collection');
  assert.is(await text(page, 'views'), '1', 'a fresh session after log-out');
  assert.is.not(await sidOf(ctx), sid);

  assert.is(await app.stop(), 0);
  console.log(`# screenshots: ${join('test-artifacts', 'example-app-home.png')}, ${join('test-artifacts', 'example-app-admin.png')}`);
});

test('in chromium, two devices of one user: the second logs the first out with "Log out everywhere else"', async () => {
  const browser = await findBrowser();
  const sessions = t.db.collection<{ _id: string; session: any; userId?: string }>('sessions');
  const app = await startApp({ MONGODB_URI: t.uri, EXAMPLE_DB_NAME: t.dbName });
  const [laptop, phone] = [await openDevice(browser), await openDevice(browser)];
  const name = 'Margaret <i>Hamilton</i>';
  const live = () => sessions.find({ userId: name, session: { $ne: null } }).toArray();

  await logIn(laptop.page, app.url, name);
  assert.is(await text(laptop.page, 'device-count'), '1');
  await logIn(phone.page, app.url, name);
  const [laptopSid, phoneSid] = [(await sidOf(laptop.ctx))!, (await sidOf(phone.ctx))!];
  assert.ok(laptopSid && phoneSid && laptopSid !== phoneSid, 'two devices, two sessions');

  // The phone lists both devices, newest first: itself (marked), then the laptop; short tags only, never an id.
  assert.is(await text(phone.page, 'device-count'), '2');
  const rows = phone.page.locator('[data-testid=devices] tbody tr');
  assert.is(await rows.count(), 2);
  const cells = async (i: number) => (await rows.nth(i).locator('td').allTextContents()).map((c) => c.trim());
  const [mine, other] = [await cells(0), await cells(1)];
  assert.is(mine[0], `${phoneSid.slice(0, 6)}… (this device)`);
  assert.is(other[0], `${laptopSid.slice(0, 6)}…`);
  for (const row of [mine, other]) {
    assert.match(row[1], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(just now\)$/, 'signed in: the log-in created the document');
    assert.match(row[2], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(just now\)$/, 'last activity: its updatedAt');
    assert.match(row[3], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in (59|60) min\)$/, 'expiry: the cookie lasts an hour');
  }
  const html = await phone.page.content();
  assert.not.match(html, phoneSid, 'no full session id on the page');
  assert.not.match(html, laptopSid, 'no full session id of another device on the page');
  assert.is((await live()).length, 2);

  // "Log out everywhere else": one other session ended, and this one stays.
  await phone.page.getByRole('button', { name: 'Log out everywhere else' }).click();
  await phone.page.getByTestId('ended').waitFor();
  await phone.page.waitForLoadState('load'); // the page's own save (the count cleared) has landed: see logIn()
  assert.is(await text(phone.page, 'ended'), '1 other session ended.');
  assert.is(await text(phone.page, 'device-count'), '1');
  await phone.page.screenshot({ path: join(artifacts, 'example-app-devices.png'), fullPage: true });

  // The laptop's next page load: its session is gone, so it is logged out (a fresh session, a new cookie).
  await laptop.page.goto(app.url);
  await laptop.page.getByLabel('Name').waitFor();
  assert.is(await laptop.page.getByTestId('user').count(), 0, 'the laptop is logged out');
  assert.is(await text(laptop.page, 'views'), '1', 'a fresh session');
  assert.is.not(await sidOf(laptop.ctx), laptopSid);

  // The phone is still logged in, sees one device (itself), and the notice was shown once.
  await phone.page.goto(app.url);
  assert.is(await text(phone.page, 'user'), name);
  assert.is(await text(phone.page, 'device-count'), '1');
  assert.is(await phone.page.locator('[data-testid=devices] tbody tr.mine').count(), 1);
  assert.is(await phone.page.getByTestId('ended').count(), 0, 'the count is shown once');
  assert.is(await sidOf(phone.ctx), phoneSid);

  // In the collection: one live session of that user remains, the phone's; the laptop's holds no session any more.
  assert.equal((await live()).map((d) => d._id === phoneSid), [true]);
  assert.is(await sessions.findOne({ _id: laptopSid, session: { $ne: null } }), null);

  assert.is(await app.stop(), 0, app.output());
  console.log(`# screenshot: ${join('test-artifacts', 'example-app-devices.png')}`);
});

// The default without MONGODB_URI: the embedded FerretDB on SQLite in a data dir, kept across restarts, and stopped
// with the app. It needs the FerretDB binary this run already built, so it runs when the run's server is FerretDB.
if (isFerret) {
  test('without MONGODB_URI: embedded FerretDB, sessions survive a restart, nothing left running', async () => {
    const dataDir = mkdtempSync(join(tmpRoot, 'example-data-'));
    try {
      const env = { MONGODB_URI: '', EXAMPLE_DATA_DIR: dataDir, EXAMPLE_DB_NAME: dbNameFor(__filename, 'embedded') };
      // A lock left by a crashed app (its process is gone) is taken over.
      const gone = spawn(process.execPath, ['-e', '']);
      await new Promise((r) => gone.once('exit', r));
      writeFileSync(join(dataDir, 'example-app.lock'), String(gone.pid));
      let app = await startApp(env);
      const ferretUri = /server: FerretDB v1\.24\.2 \(sqlite\) at (mongodb:\/\/127\.0\.0\.1:\d+\/)/.exec(app.output())?.[1];
      assert.ok(ferretUri, `the app says it uses the embedded FerretDB:\n${app.output()}`);
      // The app itself never announces a build: scripts/build-ferretdb.sh says "building" itself, and only when it does
      // build (it printed nothing here unless the binary was out of date).
      const own = app.output().split('\n').filter((l) => l.startsWith('connect-mongo example:'));
      assert.not.match(own.join('\n'), /\bbuild/i, `the app announces a build:\n${app.output()}`);
      const first = await fetch(app.url);
      assert.match(await first.text(), /data-testid="views">1</);
      const cookie = first.headers.get('set-cookie')!.split(';')[0];
      assert.match(cookie, `${COOKIE}=`);
      assert.is(readFileSync(join(dataDir, 'example-app.lock'), 'utf8'), String(app.child.pid));

      // A second app on the same data dir refuses to start a second FerretDB on it, and says who holds it.
      const second = await startApp(env).then(
        () => 'a second app started on the same data dir',
        (e: Error) => e.message,
      );
      assert.match(second, `is in use by another example app (pid ${app.child.pid})`);
      assert.is(await app.stop(), 0, app.output());

      app = await startApp(env);
      const again = await fetch(app.url, { headers: { cookie } });
      assert.match(await again.text(), /data-testid="views">2</, 'the session came back from the SQLite data dir');
      const ferretUri2 = /server: FerretDB v1\.24\.2 \(sqlite\) at (mongodb:\/\/127\.0\.0\.1:\d+\/)/.exec(app.output())![1];
      assert.is(await app.stop(), 0, app.output());
      assert.not.ok(existsSync(join(dataDir, 'example-app.lock')), 'the lock is released on shutdown');

      // The FerretDB the app started is gone with it: its port no longer answers.
      const probe = new MongoClient(ferretUri2, { serverSelectionTimeoutMS: 1000 });
      const answered = await probe.db('admin').command({ ping: 1 }).then(() => true, () => false);
      await probe.close();
      assert.is(answered, false, 'FerretDB still answers after the app stopped');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
} else {
  console.log('# embedded-FerretDB start of the example not exercised: this run uses MONGODB_URI, not FerretDB');
}

test.run();
