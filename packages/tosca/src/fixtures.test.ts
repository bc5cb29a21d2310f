import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compile } from './compile.js';
import { formatDiagnostic } from './diagnostic.js';

/**
 * Diagnostic baselines: each `fixtures/diagnostics/NAME.yaml` sits beside
 * `NAME.diagnostics` (`.tosca` for inputs that are not even YAML, which the formatter
 * skips), the exact diagnostics it must produce (file paths relative to the fixture folder).
 * `UPDATE_BASELINES=1` writes the baselines from the current output, to be reviewed in the
 * diff; without it a fixture with no baseline fails, so no verdict is ever minted unread.
 */
const folder = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/diagnostics');
const fixtures = readdirSync(folder).filter((f) => /\.(yaml|tosca)$/.test(f));

describe('diagnostic baselines', () => {
  for (const fixture of fixtures) {
    it(fixture, async () => {
      const result = await compile({ source: join(folder, fixture), validateOnly: true });
      const actual = `${result.diagnostics
        .map((d) => formatDiagnostic(d).replaceAll(`${folder}/`, ''))
        .join('\n')}\n`;
      const baseline = join(folder, `${fixture.replace(/\.yaml$/, '')}.diagnostics`);
      if (process.env.UPDATE_BASELINES) writeFileSync(baseline, actual);
      if (!existsSync(baseline))
        expect.fail(`${fixture} has no baseline: write it with UPDATE_BASELINES=1 and review it`);
      expect(actual).toBe(readFileSync(baseline, 'utf8'));
      // No result alongside errors; a result without them.
      const errors = result.diagnostics.some((d) => d.severity === 'error');
      expect(result.templates === undefined).toBe(errors);
    });
  }
});
