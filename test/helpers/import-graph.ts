import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

import ts from 'typescript';

/** One import of a source file: the file it names (repo-relative) and whether it runs at runtime. */
export interface ImportEdge {
  from: string;
  to: string;
  /** False for `import type` / `export type`: erased under `verbatimModuleSyntax`. */
  runtime: boolean;
}

/** Every `.ts` file under `dir`, repo-relative with `/` separators, sorted. */
export function sourceFiles(root: string, dir: string): string[] {
  const walk = (path: string): string[] =>
    readdirSync(path)
      .sort()
      .flatMap((name) => {
        const full = join(path, name);
        if (statSync(full).isDirectory()) return walk(full);
        return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [full] : [];
      });
  return walk(resolve(root, dir)).map((f) => relative(root, f).split('\\').join('/'));
}

/**
 * The relative imports of one file: static imports and re-exports, and `import('./x.js')`
 * with a literal specifier. `import { type A }` still loads the module under
 * `verbatimModuleSyntax`, so only `import type` and `export type` count as type-only.
 */
export function importsOf(root: string, file: string): ImportEdge[] {
  const text = readFileSync(resolve(root, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const edges: ImportEdge[] = [];
  const add = (specifier: string, runtime: boolean) => {
    if (!specifier.startsWith('.')) return;
    const target = join(dirname(file), specifier.replace(/\.js$/, '.ts')).split('\\').join('/');
    edges.push({ from: file, to: target, runtime });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.importClause?.isTypeOnly !== true);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, !node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** Strongly connected components of more than one file (or a file importing itself): the cycles. */
export function cycles(files: readonly string[], edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) next.get(e.from)?.push(e.to);
  // Tarjan's algorithm.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!next.has(w)) continue;
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (next.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const f of files) if (!index.has(f)) connect(f);
  return found.sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? ''));
}
