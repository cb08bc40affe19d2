/**
 * `npm test`: starts the test server once (test/server.ts decides which), runs every test/**\/*.test.ts file in its
 * own node process against it, stops the server whatever happens (failures, Ctrl-C, SIGTERM), and ends with the line
 * `N passed, N failed`. `npm test -- store codec` runs only the files whose path contains one of the words.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startTestServer, repoRoot, type TestServer } from './server';
import { TEST_POOL_SIZE } from './helpers';

/** The URI with maxPoolSize=n, unless it sets a maxPoolSize of its own. */
function withPoolSize(uri: string, n: number): string {
  if (/[?&]maxPoolSize=/i.test(uri)) return uri;
  const [base, query] = uri.split('?');
  return `${base.includes('/', base.indexOf('//') + 2) ? base : `${base}/`}?${query ? `${query}&` : ''}maxPoolSize=${n}`;
}

// A guard against a hung file, not a speed limit: on 2 busy cores a file that starts dozens of processes (cli, pack)
// has taken over 5 minutes.
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 900_000);
const CONCURRENCY = Number(process.env.TEST_CONCURRENCY ?? 2);

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fixtures' ? [] : testFiles(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

interface FileResult { file: string; passed: number; failed: number; skipped: number; output: string; ms: number }

const running = new Set<import('node:child_process').ChildProcess>();

function runFile(file: string, env: NodeJS.ProcessEnv): Promise<FileResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[run] ${relative(repoRoot, file)} timed out after ${FILE_TIMEOUT_MS} ms and was killed\n`;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      // eslint-disable-next-line no-control-regex
      const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
      const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? NaN);
      const total = num('Total');
      const passed = Number.isNaN(num('Passed')) ? 0 : num('Passed');
      const skipped = Number.isNaN(num('Skipped')) ? 0 : num('Skipped');
      let failed = Number.isNaN(total) ? 1 : total - passed - skipped;
      // A file that crashed after its summary (an unhandled rejection, a hung handle) still fails.
      if (failed === 0 && (code !== 0 || signal)) failed = 1;
      resolve({ file, passed, failed, skipped, output, ms: Date.now() - started });
    });
  });
}

async function main() {
  const filters = process.argv.slice(2);
  const files = testFiles(join(repoRoot, 'test'))
    .filter((f) => filters.length === 0 || filters.some((w) => relative(repoRoot, f).includes(w)))
    .sort();
  if (files.length === 0) throw new Error(`no test file matches ${filters.join(' ')}`);

  let server: TestServer | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    for (const c of running) c.kill('SIGKILL');
    await server?.stop();
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`\n[run] ${sig}: stopping the test server`);
      void stop().finally(() => process.exit(130));
    });
  }

  let passed = 0;
  let failed = 0;
  try {
    server = await startTestServer();
    console.log(`[run] server: ${server.name}${server.kind === 'external' ? '' : ` at ${server.uri}`}; ${files.length} test files`);
    const env = {
      ...process.env,
      // Every client a test builds from the run's URI (stores with mongoUrl, CLI configs, child processes) gets a
      // small pool: see TEST_POOL_SIZE.
      CONNECT_MONGO_TEST_URI: withPoolSize(server.uri, TEST_POOL_SIZE),
      CONNECT_MONGO_TEST_SERVER: server.name,
      CONNECT_MONGO_TEST_KIND: server.kind,
      FORCE_COLOR: '0',
    };
    const queue = [...files];
    const workers = Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        const r = await runFile(f, env);
        passed += r.passed;
        failed += r.failed;
        const status = r.failed ? 'FAIL' : 'ok  ';
        console.log(`[run] ${status} ${relative(repoRoot, f)} (${r.passed} passed, ${r.failed} failed, ${(r.ms / 1000).toFixed(1)} s)`);
        if (r.failed || process.env.TEST_VERBOSE) console.log(r.output.replace(/^/gm, '    '));
        else {
          // Lines a test prints on purpose (server name, measured figures) start with "#".
          const notes = r.output.split('\n').filter((l) => l.startsWith('# '));
          if (notes.length) console.log(notes.map((l) => `    ${l}`).join('\n'));
        }
      }
    });
    await Promise.all(workers);
  } catch (e) {
    console.error(`[run] ${(e as Error).message}`);
    failed += 1;
  } finally {
    await stop();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

void main();
