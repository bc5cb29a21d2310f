import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compile } from './compile.js';

/**
 * Robustness: truncated and mutated conformance files must yield diagnostics, never an
 * exception or an internal error (TOSCA1000). The mutations are seeded, so a failure
 * reproduces.
 */
const corpus = join(dirname(fileURLToPath(import.meta.url)), '../conformance');
const manifest = JSON.parse(readFileSync(join(corpus, 'manifest.json'), 'utf8')) as Array<{
  file: string;
}>;
const sources = [...new Set(manifest.map((e) => e.file))].map((f) =>
  readFileSync(join(corpus, f), 'utf8'),
);

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const TOKENS = [
  '',
  ' ',
  '\n',
  ':',
  '- ',
  '[',
  ']',
  '{',
  '}',
  '$',
  '$get_input',
  '&a',
  '*a',
  '!!binary',
  '"',
  'null',
  '~',
  '- 1',
  '  ',
  'UNBOUNDED',
  '0.5',
  '<<: *a',
];

function mutate(text: string, rnd: () => number): string {
  const lines = text.split('\n');
  switch (Math.floor(rnd() * 5)) {
    case 0:
      return text.slice(0, Math.floor(rnd() * text.length));
    case 1:
      lines.splice(Math.floor(rnd() * lines.length), 1 + Math.floor(rnd() * 3));
      return lines.join('\n');
    case 2: {
      const at = Math.floor(rnd() * text.length);
      return (
        text.slice(0, at) + (TOKENS[Math.floor(rnd() * TOKENS.length)] ?? '') + text.slice(at + 1)
      );
    }
    case 3: {
      const i = Math.floor(rnd() * lines.length);
      lines[i] = `  ${lines[i] ?? ''}`;
      return lines.join('\n');
    }
    default: {
      const i = Math.floor(rnd() * lines.length);
      const j = Math.floor(rnd() * lines.length);
      const a = lines[i] ?? '';
      lines[i] = lines[j] ?? '';
      lines[j] = a;
      return lines.join('\n');
    }
  }
}

describe('fuzzing with mutated conformance files', () => {
  it('never throws and never reports an internal error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tosca-fuzz-'));
    const rnd = random(20261121);
    let compiled = 0;
    for (const [n, text] of sources.entries()) {
      for (let k = 0; k < 4; k++) {
        const file = join(dir, `case-${n}-${k}.yaml`);
        writeFileSync(file, mutate(text, rnd));
        const result = await compile({ source: file, validateOnly: k % 2 === 0 });
        const internal = result.diagnostics.filter((d) => d.code === 'TOSCA1000');
        expect(internal, `${file}: ${internal[0]?.message}`).toEqual([]);
        for (const d of result.diagnostics) {
          expect(d.line).toBeGreaterThan(0);
          expect(d.column).toBeGreaterThan(0);
        }
        compiled++;
      }
    }
    expect(compiled).toBe(sources.length * 4);
  }, 120_000);
});
