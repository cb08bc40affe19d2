/**
 * Every ```js and ```mjs block of README.md runs against the real server, so the docs cannot drift from the code.
 * `connect-mongo` resolves to this checkout's src/ (through tsx); test/pack.test.ts proves the built package itself.
 * A block passes when it exits 0, or is still serving (an app.listen example) after a grace period with no error.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tmpRoot } from './server';
import { openTestDb, type TestDb } from './helpers';

const dir = join(tmpRoot, 'readme');
const blocks = [...readFileSync(join(repoRoot, 'README.md'), 'utf8').matchAll(/```(js|mjs)\n([\s\S]*?)```/g)].map((m, i) => ({ ext: m[1] === 'mjs' ? 'mjs' : 'cjs', code: m[2], index: i + 1 }));

// The README's config file example is the config the createStoreFromConfig example finds.
const configExample = /```json\n(\{[\s\S]*?"env"[\s\S]*?)```/.exec(readFileSync(join(repoRoot, 'README.md'), 'utf8'))?.[1];

let t: TestDb;
const test = suite('README examples');
test.before(async () => {
  t = await openTestDb(__filename);
  rmSync(dir, { recursive: true, force: true });
  const pkg = join(dir, 'node_modules/connect-mongo');
  mkdirSync(pkg, { recursive: true });
  // A package scope of its own: inside this repo's, `connect-mongo` would self-reference dist/.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-examples', private: true }));
  if (configExample) writeFileSync(join(dir, 'connect-mongo.config.json'), configExample);
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'connect-mongo', exports: { require: './index.cjs', import: './index.mjs' } }));
  writeFileSync(join(pkg, 'index.cjs'), `module.exports = require(${JSON.stringify(join(repoRoot, 'src/index.ts'))}).default;\n`);
  writeFileSync(join(pkg, 'index.mjs'), "import m from './index.cjs';\nexport default m;\nexport const { MongoStore, createStoreFromConfig } = m;\n");
});
test.after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await t?.close();
});

function runBlock(file: string, uri: string): Promise<{ code: number | null; stderr: string; stdout: string; stillRunning: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: dir, env: { ...process.env, MONGODB_URI: uri, PORT: '0', NODE_ENV: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    const grace = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: null, stderr, stdout, stillRunning: true });
    }, 4000);
    child.on('exit', (code) => {
      clearTimeout(grace);
      resolve({ code, stderr, stdout, stillRunning: false });
    });
  });
}

test('the README has examples to run, and a config file example', () => {
  assert.ok(blocks.length >= 3, `found ${blocks.length} blocks`);
  assert.ok(configExample, 'a ```json config example with an env block');
});

for (const b of blocks) {
  test(`README example ${b.index} (${b.ext})`, async () => {
    const file = join(dir, `example-${b.index}.${b.ext}`);
    writeFileSync(file, b.code);
    const u = new URL(t.uri);
    u.pathname = `/${t.dbName}`;
    const r = await runBlock(file, u.toString());
    const problems = r.stderr.split('\n').filter((l) => l.trim() && !/ExperimentalWarning|--trace-warnings|CONNECT_MONGO_TTL_FALLBACK|refused the TTL index/.test(l));
    assert.equal(problems, [], `example ${b.index} wrote to stderr:\n${r.stderr}`);
    if (!r.stillRunning) assert.is(r.code, 0, `example ${b.index} exited with ${r.code}:\n${r.stderr}`);
  });
}

test.run();
