/**
 * `npm start` at scale: the example app (examples/express-app/start.ts) as a user starts it, on its embedded default
 * (FerretDB on SQLite, its own config file), with N sessions stored, then the time to serve its page. One app process
 * for all N (ascending); the sessions are topped up between measurements with copies of a document the app itself
 * wrote, so their shape is the app's. Page: `GET /` with a stored session's cookie (the page counts views, so
 * express-session calls get, then set), one request at a time.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { children } from './workloads';
import { median, prng } from './stats';
import { COOKIE_NAME } from '../../examples/express-app/app';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const signature: { sign(value: string, secret: string): string } = require('cookie-signature');

export interface StartAppPoint {
  n: number;
  /** median and 90th percentile of one page, ms, over all rounds */
  p50Ms: number;
  p90Ms: number;
  /** each round's median page, ms (the target compares them round by round) */
  roundP50Ms: number[];
  pages: number;
}

export interface StartAppResult {
  server: string;
  points: StartAppPoint[];
}

const repoRoot = join(__dirname, '../..');
const SECRET = 'bench: npm start at scale';
const DB = 'connect_mongo_example_bench';

function page(agent: Agent, port: number, cookie: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent, headers: { cookie } }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve(res.statusCode) : reject(new Error(`GET / answered ${res.statusCode}`))));
    });
    req.once('error', reject);
    req.end();
  });
}

/** The first page without a cookie: the app creates a session and sets its cookie; answers the sid. */
function firstVisit(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      res.resume();
      const set = (res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${COOKIE_NAME}=`));
      const value = set && decodeURIComponent(set.slice(COOKIE_NAME.length + 1).split(';')[0]);
      if (!value?.startsWith('s:')) return reject(new Error(`the first page set no ${COOKIE_NAME} cookie`));
      // Once the body is in: express-session ends the response only after the store has saved the session.
      res.once('end', () => resolve(value.slice(2, value.lastIndexOf('.'))));
    })
      .once('error', reject)
      .end();
  });
}

export async function startAppWorkload(ns: number[], rounds: number, pagesPerRound: number, log: (m: string) => void): Promise<StartAppResult> {
  const dataDir = join(repoRoot, '.tmp', 'bench-start-app');
  rmSync(dataDir, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', EXAMPLE_DATA_DIR: dataDir, EXAMPLE_DB_NAME: DB, SESSION_SECRET: SECRET };
  delete env.MONGODB_URI; // npm start's embedded default, whatever server the rest of the bench uses
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples/express-app/start.ts')], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let client: MongoClient | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const { port, uri, server } = await new Promise<{ port: number; uri: string; server: string }>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`npm start: not listening within 300 s. ${err.slice(-2000)}`)), 300_000);
      child.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
      child.stdout!.on('data', (d) => {
        out += d;
        const listening = /listening on http:\/\/[^:]+:(\d+)\//.exec(out);
        const srv = /server: (.+?) at (mongodb:\/\/\S+?),? data in/.exec(out);
        if (listening && srv) {
          clearTimeout(timer);
          resolve({ port: Number(listening[1]), uri: srv[2], server: srv[1] });
        }
      });
      child.once('exit', (code) => reject(new Error(`npm start exited (code ${code}): ${err.slice(-2000)}`)));
    });
    client = await MongoClient.connect(uri);
    const col = client.db(DB).collection<Record<string, unknown> & { _id: string }>('sessions');
    const model = await col.findOne({ _id: await firstVisit(port) });
    if (!model) throw new Error('npm start: the first visit stored no session');
    let stored = await col.countDocuments();
    const points: StartAppPoint[] = [];
    for (const n of ns) {
      log(`npm start: topping up to ${n} sessions`);
      for (; stored < n; ) {
        const batch = [];
        for (let k = 0; k < 1000 && stored + k < n; k++) batch.push({ ...model, _id: `bench-start-${String(stored + k).padStart(20, '0')}` });
        await col.insertMany(batch, { ordered: false });
        stored += batch.length;
      }
      const all: number[] = [];
      const roundP50Ms: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const rand = prng(n + round);
        const each: number[] = [];
        for (let k = 0; k < pagesPerRound; k++) {
          const sid = `bench-start-${String(Math.floor(rand() * (n - 1))).padStart(20, '0')}`;
          const cookie = `${COOKIE_NAME}=${encodeURIComponent(`s:${signature.sign(sid, SECRET)}`)}`;
          const t0 = performance.now();
          await page(agent, port, cookie);
          each.push(performance.now() - t0);
        }
        roundP50Ms.push(median(each));
        all.push(...each);
      }
      all.sort((a, b) => a - b);
      points.push({ n, p50Ms: median(all), p90Ms: all[Math.floor(all.length * 0.9)], roundP50Ms, pages: all.length });
      log(`npm start: ${n} sessions: page p50 ${median(all).toFixed(2)} ms`);
    }
    return { server, points };
  } finally {
    agent.destroy();
    await client?.close();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM'); // the app closes its store and stops its FerretDB
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}
