/**
 * Each workload kind's package owns its part of the profile io.khutulun.core (the node types it
 * runs, beside its mapping of them), and the profile imports every part: adding a kind touches
 * its package, the composition root and the profile catalog, nothing else.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from '@khutulun/tosca';
import { describe, expect, it } from 'vitest';
import { WORKLOAD_KINDS } from './agent-runtime.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const profileDir = join(root, 'profiles/khutulun');

/** The node types each profile file defines (top-level names under `node_types:`). */
function nodeTypesOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const section = /^node_types:\n([\s\S]*?)(?=^[a-z_]+:|(?![\s\S]))/m.exec(text)?.[1] ?? '';
  return [...section.matchAll(/^ {2}([A-Za-z][\w-]*):\s*$/gm)].map((m) => m[1] as string);
}

function partFiles(): string[] {
  return readdirSync(join(root, 'packages')).flatMap((pkg) => {
    const dir = join(root, 'packages', pkg, 'profile');
    try {
      return readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => join(dir, f));
    } catch {
      return [];
    }
  });
}

describe('the profile io.khutulun.core, in parts', () => {
  it("defines every kind's node types in a part that the kind's package holds, not in the shared core", () => {
    const owner = new Map<string, string>();
    for (const file of partFiles())
      for (const type of nodeTypesOf(file)) owner.set(type, relative(root, file));
    const core = nodeTypesOf(join(profileDir, 'core.yaml'));
    for (const kind of WORKLOAD_KINDS)
      for (const full of kind.nodeTypes) {
        const name = full.replace(/^node:io\.khutulun\.core\//, '');
        expect(owner.get(name), `${kind.kind}: ${full}`).toMatch(
          /^packages\/driver-[\w-]+\/profile\//,
        );
        expect(core, `${kind.kind}: ${full} in core.yaml`).not.toContain(name);
      }
    expect(core).toContain('Workload');
  });

  it('imports every part, and a service sees their types under the profile name', async () => {
    const profile = readFileSync(join(profileDir, 'profile.yaml'), 'utf8');
    for (const file of partFiles()) expect(profile).toContain(relative(profileDir, file));
    const compiled = await compile({
      source: join(root, 'examples/containers'),
      validateOnly: true,
    });
    expect(compiled.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const classes = (compiled.templates ?? [])
      .filter((t) => t.id.kind === 'class')
      .map((t) => t.id.name);
    // examples/containers runs a ContainerServer (podman) and a Process: their types and the
    // kinds' node types they derive from are io.khutulun.core's, wherever the part lives.
    expect(classes).toEqual(
      expect.arrayContaining([
        'node:io.khutulun.core/ContainerServer',
        'node:io.khutulun.core/Container',
        'node:io.khutulun.core/Process',
        'node:io.khutulun.core/Workload',
      ]),
    );
  });
});
