import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compile } from './compile.js';
import { formatDiagnostic } from './diagnostic.js';

/**
 * Diagnostic baselines: each fixture sits beside `NAME.diagnostics`, the exact diagnostics it
 * must produce (file paths relative to its folder). A fixture is a `NAME.yaml`, a `NAME.tosca`
 * (an input that is not even YAML, which the formatter skips) or a `NAME.csar` directory.
 * `UPDATE_BASELINES=1` writes the baselines from the current output, to be reviewed in the
 * diff; without it a fixture with no baseline fails, so no verdict is ever minted unread.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '../fixtures');

/** Where the community simple profile 2.0 lives on the web, as templates in the wild import it. */
const COMMUNITY_PROFILE =
  'https://raw.githubusercontent.com/xDaryamo/tosca-community-contributions/refs/heads/master/profiles/org/oasis-open/simple/2.0/';

/**
 * The community profile itself is not copied into the repository (it is another project's
 * text): the tests read the copy in `shared/reference`, which sits beside the clone.
 */
const communityProfile = join(root, '../../../../shared/reference/community-simple-profile-2.0/');

const suites: Array<{
  name: string;
  folder: string;
  mapUrls: Record<string, string>;
  /** Why the suite cannot run here, if it cannot. */
  missing?: string;
}> = [
  { name: 'diagnostic baselines', folder: join(root, 'diagnostics'), mapUrls: {} },
  {
    name: 'templates from the wild (community simple profile 2.0 by URL)',
    folder: join(root, 'wild'),
    mapUrls: { [COMMUNITY_PROFILE]: communityProfile },
    ...(existsSync(communityProfile)
      ? {}
      : {
          missing: `the community profile is not at ${communityProfile} (shared/ beside the clone)`,
        }),
  },
];

for (const suite of suites) {
  const fixtures = readdirSync(suite.folder).filter(
    (f) =>
      /\.(yaml|tosca)$/.test(f) ||
      (f.endsWith('.csar') && statSync(join(suite.folder, f)).isDirectory()),
  );
  describe.skipIf(suite.missing !== undefined)(
    `${suite.name}${suite.missing ? ` (skipped: ${suite.missing})` : ''}`,
    () => {
      for (const fixture of fixtures) {
        it(fixture, async () => {
          const result = await compile({
            source: join(suite.folder, fixture),
            validateOnly: true,
            mapUrls: suite.mapUrls,
          });
          const lines = result.diagnostics.map((d) =>
            formatDiagnostic(d)
              .replaceAll(`${suite.folder}/`, '')
              .replaceAll(communityProfile, '../community-simple-profile-2.0/')
              .replaceAll(`${root}/`, '../'),
          );
          // The compiler orders diagnostics by file path; the profile's path is rewritten
          // above, so its diagnostics are put back in the order the baseline has them.
          const file = (line: string) => line.slice(0, line.indexOf(':'));
          const actual = `${lines
            .map((line, i) => ({ line, i }))
            .sort((a, b) =>
              file(a.line) < file(b.line) ? -1 : file(a.line) > file(b.line) ? 1 : a.i - b.i,
            )
            .map((x) => x.line)
            .join('\n')}\n`;
          const baseline = join(suite.folder, `${fixture.replace(/\.yaml$/, '')}.diagnostics`);
          if (process.env.UPDATE_BASELINES) writeFileSync(baseline, actual);
          if (!existsSync(baseline))
            expect.fail(
              `${fixture} has no baseline: write it with UPDATE_BASELINES=1 and review it`,
            );
          expect(actual).toBe(readFileSync(baseline, 'utf8'));
          // No result alongside errors; a result without them.
          const errors = result.diagnostics.some((d) => d.severity === 'error');
          expect(result.templates === undefined).toBe(errors);
        });
      }
    },
  );
}
