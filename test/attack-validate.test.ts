/**
 * `connect-mongo validate` attacked: keys that would forge output lines, and positions in files written in awkward
 * ways (CRLF, tabs, a BOM, non-ASCII before the value, duplicate keys, YAML anchors and merges, a ${VAR} inside a
 * longer string, package.json with the key also nested). Files are written to test-artifacts/; no database.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from './server';
import { runCliInProcess } from './fixtures/cli-run';
import { OptionsError } from '../src';

const dir = join(repoRoot, 'test-artifacts/attack-validate');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const file = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
/** 1-based line:column of the first `needle` in `text` (UTF-16 columns, as JavaScript tools count them); a BOM is no column. */
function at(text: string, needle: string): string {
  const t = text.replace(/^\uFEFF/, '');
  const before = t.slice(0, t.indexOf(needle)).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

test('a key with a newline or an escape sequence cannot forge a line (a ::error workflow command) in text, github or an OptionsError', async () => {
  const text = '{"mongoUrl": "mongodb://h/db", "a\\n::error file=x.js,line=1::forged\\u001b[31m\\u2028": 1}\n';
  const f = file('forge.json', text);
  for (const format of [[], ['--format', 'github']]) {
    const r = await runCliInProcess(['validate', f, ...format]);
    assert.is(r.code, 1);
    const lines = r.stdout.split('\n');
    assert.not.ok(lines.some((l) => l.startsWith('::error file=x.js')), `a forged workflow command:\n${r.stdout}`);
    assert.not.ok(/\u001b/.test(r.stdout), 'no raw escape sequence');
    if (!format.length) assert.not.ok(/\u2028/.test(r.stdout), 'no raw line separator in the text');
    assert.ok(r.stdout.includes('/a\\n::error file=x.js,line=1::forged\\u001b[31m\\u2028'), r.stdout);
  }
  const e = new OptionsError([{ path: '/x\ny', message: 'm' }], 'src');
  assert.is(e.message, 'connect-mongo: invalid src: /x\\ny: m');
  assert.is(e.issues[0].path, '/x\ny', 'the issue keeps the path itself');
});

test('positions held: CRLF, tabs, BOM, non-ASCII before the value, duplicate keys, anchors, ${VAR} in a string, nested package.json key', async () => {
  const cases: Array<[string, string, string, string]> = [
    ['crlf.json', '{\r\n  "mongoUrl": "mongodb://h/db",\r\n  "ttl": "x"\r\n}\r\n', '/ttl', '"x"'],
    ['tabs.json', '{\n\t"mongoUrl": "mongodb://h/db",\n\t\t"ttl": "x"\n}\n', '/ttl', '"x"'],
    ['bom.json', '\uFEFF{"mongoUrl": "mongodb://h/db", "ttl": "x"}\n', '/ttl', '"x"'],
    ['wide.json', '{"collectionName": "é😀é", "mongoUrl": "mongodb://h/db", "ttl": "x"}\n', '/ttl', '"x"'],
    ['dup.json', '{"mongoUrl": "mongodb://h/db", "ttl": 5, "ttl": "x"}\n', '/ttl', '"x"'],
    ['crlf.yaml', 'mongoUrl: mongodb://h/db\r\n\tttl_: 1\r\n', '/', ''],
    ['anchor.yaml', 'mongoUrl: mongodb://h/db\nenv:\n  a: &b\n    ttl: x\n  b: *b\n', '/env/a/ttl', 'x\n'],
    ['var.yaml', 'mongoUrl: mongodb://h/db\ncollectionName: "pre-${ATTACK_V}-post"\nttl: "1${ATTACK_V}"\n', '/ttl', '"1$'],
  ];
  process.env.ATTACK_V = '5';
  try {
    for (const [name, text, path, needle] of cases) {
      const r = await runCliInProcess(['validate', file(name, text), '--json']);
      const o = JSON.parse(r.stdout.trim().split('\n')[0]);
      const issue = o.issues.find((i: { path: string }) => i.path === path) ?? o.issues[0];
      assert.ok(issue, `${name}: ${r.stdout}`);
      if (!needle) continue; // a YAML tab as indentation: the parser's own position, whatever it is, but no crash
      assert.is(`${issue.line}:${issue.column}`, at(text, needle), `${name}: ${JSON.stringify(issue)}`);
    }
    const pkg = '{"name": "x", "nested": {"connect-mongo": {"ttl": "y"}},\n "connect-mongo": {"mongoUrl": "mongodb://h/db", "ttl": "z"}}\n';
    mkdirSync(join(dir, 'pkg'), { recursive: true });
    const r = await runCliInProcess(['validate', file('pkg/package.json', pkg), '--format', 'github']);
    assert.ok(r.stdout.includes(`file=${relative(repoRoot, join(dir, 'pkg/package.json'))},line=2,col=${at(pkg, '"z"').split(':')[1]},`), r.stdout);
  } finally {
    delete process.env.ATTACK_V;
  }
});

test('exit codes over many files: the worst; one NDJSON object each, in order', async () => {
  const ok = file('ok.json', '{"mongoUrl": "mongodb://h/db"}\n');
  const bad = file('bad.json', '{"mongoUrl": "mongodb://h/db", "ttl": "x"}\n');
  const broken = file('broken.json', '{"mongoUrl": \n');
  const missing = join(dir, 'missing.json');
  const r = await runCliInProcess(['validate', ok, bad, missing, broken, ok, '--json']);
  assert.is(r.code, 2);
  const objs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(objs.map((o) => o.exitCode), [0, 1, 2, 1, 0]);
  assert.is((await runCliInProcess(['validate', ok, bad, broken])).code, 1);
});

test.run();
