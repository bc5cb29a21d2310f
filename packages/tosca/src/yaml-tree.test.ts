import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseYaml, readExact, type YNode } from './yaml-tree.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');

function* yamlFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* yamlFiles(path);
    else if (/\.ya?ml$/.test(name)) yield path;
  }
}

/** Everything a tree node says, positions included, as plain data. */
function shape(n: YNode): unknown {
  if (n.kind === 'scalar')
    return {
      value: Number.isNaN(n.value) ? 'NaN' : n.value,
      quoted: n.quoted,
      offset: n.offset,
      tag: n.tag,
      source: n.source,
      complex: n.complex && shape(n.complex),
    };
  if (n.kind === 'seq') return { anchor: n.anchor, offset: n.offset, items: n.items.map(shape) };
  return {
    anchor: n.anchor,
    offset: n.offset,
    entries: n.entries.map((e) => [shape(e.key), shape(e.value)]),
  };
}

function read(text: string) {
  return parseYaml('t.yaml', text);
}

describe('the YAML front end', () => {
  it('reads every corpus, fixture and profile file as `yaml` reads it (js-yaml fast path)', () => {
    const dirs = ['packages/tosca/conformance', 'packages/tosca/fixtures', 'profiles'];
    let compared = 0;
    for (const dir of dirs) {
      for (const file of yamlFiles(join(root, dir))) {
        const text = readFileSync(file, 'utf8');
        const exact = readExact(file, text);
        if (exact.problems.length > 0 || !exact.root) continue;
        const fast = parseYaml(file, text);
        expect(fast.problems, file).toEqual([]);
        expect(shape(fast.root as YNode), file).toEqual(shape(exact.root));
        expect(fast.firstKey, file).toBe(exact.firstKey);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(300);
  });

  it('accepts no mutated corpus file that `yaml` rejects, nor rejects one it accepts', () => {
    // A fixed-seed generator: the same mutations every run.
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const inserted = [
      ' ',
      '\t',
      ':',
      '-',
      '[',
      ']',
      '{',
      '}',
      ',',
      '"',
      "'",
      '#',
      '&',
      '*',
      '!',
      '|',
      '>',
      '\n',
      '?',
    ];
    let mutated = 0;
    for (const file of yamlFiles(join(root, 'packages/tosca/conformance/cases'))) {
      const text = readFileSync(file, 'utf8');
      for (let k = 0; k < 3; k++) {
        const i = Math.floor(random() * text.length);
        const t =
          random() < 0.5
            ? text.slice(0, i) + inserted[Math.floor(random() * inserted.length)] + text.slice(i)
            : text.slice(0, i) + text.slice(i + 1);
        const rejects = (p: ReturnType<typeof parseYaml>) =>
          !p.root || p.problems.some((problem) => !problem.warning);
        expect(rejects(parseYaml(file, t)), `${file} mutated at ${i}`).toBe(
          rejects(readExact(file, t)),
        );
        mutated++;
      }
    }
    expect(mutated).toBeGreaterThan(900);
  });

  it('reads flow collections as implicit keys, wherever they stand in a block map', () => {
    const parsed = read('m:\n  a: 1\n  { $concat: [ x, y ] }: v\n  [ CAPABILITY, e, p ]: w\n');
    expect(parsed.problems).toEqual([]);
    const m = parsed.root?.kind === 'map' ? parsed.root.entries[0]?.value : undefined;
    expect(m?.kind).toBe('map');
    if (m?.kind !== 'map') return;
    expect(m.entries.map((e) => e.key.value)).toEqual([
      'a',
      '{"$concat":["x","y"]}',
      '["CAPABILITY","e","p"]',
    ]);
    expect(m.entries[1]?.key.complex?.kind).toBe('map');
    expect(m.entries[2]?.key.complex?.kind).toBe('seq');
    expect(m.entries[1]?.key.offset).toBe(12);
  });

  it('keeps YAML 1.2 core scalars, anchors, aliases and merge keys (both readers)', () => {
    const text =
      'a: &x { p: 1, q: 2 }\nb:\n  <<: *x\n  q: 3\nc: [ 0o17, 0x1F, 1_000, .inf, 1.50, True, yes, ~, "7", !!str 8 ]\nd:\n';
    const parsed = read(text);
    expect(shape(readExact('t.yaml', text).root as YNode)).toEqual(shape(parsed.root as YNode));
    expect(parsed.problems).toEqual([]);
    const plain = (n: YNode): unknown =>
      n.kind === 'scalar'
        ? n.value
        : n.kind === 'seq'
          ? n.items.map(plain)
          : Object.fromEntries(n.entries.map((e) => [e.key.value, plain(e.value)]));
    expect(plain(parsed.root as YNode)).toEqual({
      a: { p: 1, q: 2 },
      b: { q: 3, p: 1 },
      c: [15, 31, '1_000', Number.POSITIVE_INFINITY, 1.5, true, 'yes', null, '7', '8'],
      d: null,
    });
  });

  it('leaves to `yaml` what js-yaml cannot read or reads leniently, with its diagnostics', () => {
    expect(read('a: 1\na: 2\n').problems.map((p) => p.message)).toEqual([
      'Map keys must be unique',
    ]);
    expect(read('a: [1, 2\n').problems.length).toBeGreaterThan(0);
    expect(read('a: 1\n---\nb: 2\n').problems.map((p) => p.message)).toEqual([
      'a TOSCA file holds a single YAML document',
    ]);
    // A quoted scalar continuing at the key's indentation: repaired, with a warning.
    const repaired = read('a: "one\ntwo"\n');
    expect(repaired.problems.map((p) => p.warning)).toEqual([true]);
  });

  it('turns offsets into 1-based lines and columns', () => {
    const parsed = read('a:\n  b: 1\n');
    const b = parsed.root?.kind === 'map' ? parsed.root.entries[0]?.value : undefined;
    const key = b?.kind === 'map' ? b.entries[0]?.key : undefined;
    expect(key && parsed.file.position(key.offset)).toEqual({ line: 2, column: 3 });
  });
});
