/**
 * The shape of src/: no import circle (type-only imports count), the layering the code keeps (options know no store,
 * the codec knows no server, config/ reaches the store only through ../store), and no hand-written file over 420 lines.
 * Imports are read with the TypeScript parser: import/export … from, import type, require('…'), import('…') and
 * `typeof import('…')`. Package imports and what lies outside src/ (../generated) are no edges.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import * as ts from 'typescript';

const MAX_LINES = 420;
const srcDir = join(__dirname, '..', 'src');

interface Import { spec: string; typeOnly: boolean; names: string[]; target?: string }

/** Every module a file's text names, with the names it takes ('*' for a whole module, 'default'). */
function importsOf(text: string): Import[] {
  const out: Import[] = [];
  const named = (els: readonly (ts.ImportSpecifier | ts.ExportSpecifier)[]) => els.map((e) => (e.propertyName ?? e.name).text);
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const b = c?.namedBindings;
      const els = b && ts.isNamedImports(b) ? b.elements : undefined;
      const names = [...(c?.name ? ['default'] : []), ...(b && ts.isNamespaceImport(b) ? ['*'] : []), ...(els ? named(els) : [])];
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!els?.length && els.every((e) => e.isTypeOnly)));
      out.push({ spec: n.moduleSpecifier.text, typeOnly, names: c ? names : ['*'] });
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const els = n.exportClause && ts.isNamedExports(n.exportClause) ? n.exportClause.elements : undefined;
      out.push({ spec: n.moduleSpecifier.text, typeOnly: n.isTypeOnly || (!!els?.length && els.every((e) => e.isTypeOnly)), names: els ? named(els) : ['*'] });
    } else if (ts.isCallExpression(n) && n.arguments.length === 1 && ts.isStringLiteralLike(n.arguments[0])
      && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))) {
      out.push({ spec: n.arguments[0].text, typeOnly: false, names: ['*'] });
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      let q = n.qualifier;
      while (q && ts.isQualifiedName(q)) q = q.left;
      out.push({ spec: n.argument.literal.text, typeOnly: true, names: [q ? q.text : '*'] });
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) {
      out.push({ spec: n.moduleReference.expression.text, typeOnly: n.isTypeOnly, names: ['*'] });
    }
    ts.forEachChild(n, visit);
  };
  visit(ts.createSourceFile('x.ts', text, ts.ScriptTarget.Latest, true));
  return out;
}

function srcFiles(dir = srcDir): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'generated' ? [] : srcFiles(p);
    return name.endsWith('.ts') ? [relative(srcDir, p).split('\\').join('/')] : [];
  });
}

/** src/-relative file → its imports; a relative import inside src/ gets its target (x.ts or x/index.ts). */
function readSrc(): Map<string, Import[]> {
  return new Map(srcFiles().map((f) => [f, importsOf(readFileSync(join(srcDir, f), 'utf8')).map((i) => {
    if (!i.spec.startsWith('.')) return i;
    const p = posix.normalize(posix.join(posix.dirname(f), i.spec));
    if (p.startsWith('..')) return i; // ../generated and the like
    const target = [`${p}.ts`, `${p}/index.ts`].find((t) => existsSync(join(srcDir, t)));
    assert.ok(target, `${f}: import '${i.spec}' resolves to no file in src/`);
    return { ...i, target };
  })]));
}

/** The elementary cycles (`a.ts -> b.ts -> a.ts`), each once from its smallest file, shortest first; at most `max`. */
function findCycles(graph: Map<string, string[]>, max = 1000): string[][] {
  const cycles: string[][] = [];
  for (const start of [...graph.keys()].sort()) {
    const walk = (n: string, path: string[]) => {
      for (const next of new Set(graph.get(n) ?? [])) {
        if (cycles.length >= max) return;
        if (next === start) cycles.push([...path, start]);
        else if (next > start && !path.includes(next)) walk(next, [...path, next]);
      }
    };
    walk(start, [start]);
  }
  return cycles.map((c) => c.join(' -> ')).sort().map((c) => c.split(' -> ')).sort((a, b) => a.length - b.length);
}

const STORE_SIDE = ['store.ts', 'connection.ts', 'codec.ts', 'auto-remove.ts', 'memory-fallback.ts'];
const isConfig = (t?: string) => !!t?.startsWith('config/');
const RULES: { name: string; applies: (f: string) => boolean; forbids: (i: Import) => boolean }[] = [
  {
    name: 'options know no store',
    applies: (f) => /^option[^/]*\.ts$/.test(f),
    forbids: (i) => STORE_SIDE.includes(i.target!) || isConfig(i.target),
  },
  {
    name: 'the codec knows no server (from mongodb at most BSON)',
    applies: (f) => ['codec.ts', 'ciphers.ts', 'kruptein.ts', 'webcrypto.ts'].includes(f) || /^crypto[^/]*\.ts$/.test(f),
    forbids: (i) => ['store.ts', 'connection.ts', 'auto-remove.ts', 'memory-fallback.ts', 'setup.ts'].includes(i.target!) || isConfig(i.target)
      || (i.spec === 'mongodb' && i.names.some((n) => n !== 'BSON')),
  },
  {
    name: 'config/ reaches the store only through ../store',
    applies: isConfig,
    forbids: (i) => STORE_SIDE.filter((s) => s !== 'store.ts').includes(i.target!) || /^shared[^/]*\.ts$/.test(i.target ?? ''),
  },
];

function violations(files: Map<string, Import[]>): string[] {
  return RULES.flatMap((r) => [...files].filter(([f]) => r.applies(f)).flatMap(([f, imps]) =>
    imps.filter(r.forbids).map((i) => `${r.name}: ${f} imports '${i.spec}'${i.spec === 'mongodb' ? ` (${i.names.join(', ')})` : ''}`)));
}

const lineCount = (text: string) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
const edges = (files: Map<string, Import[]>) => new Map([...files].map(([f, imps]) => [f, imps.flatMap((i) => (i.target ? [i.target] : []))]));

// The checkers themselves, on hand-made input, so that each assertion below can fail.
test('importsOf reads every import form, type-only ones marked', () => {
  const got = importsOf(`
    import a, { b } from './a';  import type { T } from './t'; import { type U } from './u'; import './side';
    export { c } from './c'; export type { V } from './v'; export * from './all';
    const d = require('./d'); void import('./e'); type W = typeof import('./w'); let x: import('mongodb').Db;
    import { BSON, type Collection } from 'mongodb';
    // import './in-a-comment'
    const s = "require('./in-a-string')";`);
  assert.equal(got.map((i) => `${i.spec}${i.typeOnly ? ':type' : ''}`),
    ['./a', './t:type', './u:type', './side', './c', './v:type', './all', './d', './e', './w:type', 'mongodb:type', 'mongodb']);
  assert.equal(got.at(-1)!.names, ['BSON', 'Collection']);
  assert.equal(got[0].names, ['default', 'b']);
});

test('findCycles finds each circle once, and none in a tree', () => {
  const g = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts', 'a.ts']], ['c.ts', ['a.ts', 'd.ts']], ['d.ts', ['d.ts']], ['e.ts', []]]);
  assert.equal(findCycles(g).map((c) => c.join(' -> ')), ['d.ts -> d.ts', 'a.ts -> b.ts -> a.ts', 'a.ts -> b.ts -> c.ts -> a.ts']);
  assert.equal(findCycles(new Map([['a.ts', ['b.ts', 'c.ts']], ['b.ts', ['c.ts']], ['c.ts', []]])), []);
});

test('the rules catch each kind of crossing', () => {
  const imp = (spec: string, target?: string, names = ['*']): Import => ({ spec, target, names, typeOnly: false });
  const bad = new Map([
    ['options-extra.ts', [imp('./store', 'store.ts'), imp('./config/load', 'config/load.ts'), imp('./errors', 'errors.ts')]],
    ['codec.ts', [imp('./connection', 'connection.ts'), imp('mongodb', undefined, ['BSON']), imp('mongodb', undefined, ['MongoClient'])]],
    ['crypto-v2.ts', [imp('./setup', 'setup.ts')]],
    ['config/load.ts', [imp('../store', 'store.ts'), imp('../codec', 'codec.ts'), imp('../shared-x', 'shared-x.ts'), imp('../driver-errors', 'driver-errors.ts')]],
  ]);
  assert.equal(violations(bad).map((v) => v.replace(/^.*: /, '')), [
    "options-extra.ts imports './store'", "options-extra.ts imports './config/load'",
    "codec.ts imports './connection'", "codec.ts imports 'mongodb' (MongoClient)", "crypto-v2.ts imports './setup'",
    "config/load.ts imports '../codec'", "config/load.ts imports '../shared-x'",
  ]);
  assert.is(lineCount('a\nb\n'), 2);
  assert.is(lineCount('a\nb'), 2);
});

// src/ itself.
test('src/ has no import circle (type-only imports included)', () => {
  const cycles = findCycles(edges(readSrc())).map((c) => c.join(' -> '));
  const shown = cycles.slice(0, 20).concat(cycles.length > 20 ? [`… ${cycles.length - 20} more (the longer ones)`] : []);
  assert.ok(cycles.length === 0, `import circles in src/:\n  ${shown.join('\n  ')}`);
});

test('src/ keeps its layering', () => {
  const v = violations(readSrc());
  assert.ok(v.length === 0, `layering broken:\n  ${v.join('\n  ')}`);
});

test(`no hand-written file in src/ is over ${MAX_LINES} lines`, () => {
  const long = srcFiles().map((f) => [f, lineCount(readFileSync(join(srcDir, f), 'utf8'))] as const).filter(([, n]) => n > MAX_LINES);
  assert.ok(long.length === 0, `over ${MAX_LINES} lines:\n  ${long.map(([f, n]) => `${f}: ${n}`).join('\n  ')}`);
});

test.run();
