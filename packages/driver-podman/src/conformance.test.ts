import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveReference, fileDigest } from '@khutulun/driver-container';
import { describeContainerDriverConformance } from '@khutulun/driver-container/conformance';
import { busyboxRootfs } from '@khutulun/driver-container/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodmanDriver } from './podman-driver.js';
import { type PodmanFixture, startPodmanFixture } from './testing/podman-fixture.js';

let podman: PodmanFixture;
beforeAll(async () => {
  podman = await startPodmanFixture();
});
afterAll(async () => {
  await podman?.dispose();
});

describeContainerDriverConformance('podman', {
  open: (stateDirectory) =>
    new PodmanDriver({ client: podman.socketPath, stateDirectory, host: 'conformance-host' }),
  cli: (args) => podman.cli(args),
  pods: true,
  stopEngine: () => podman.kill(),
  startEngine: () => podman.start(),
});

describe('podman: image archives in every format', () => {
  it('runs a container from an OCI archive (podman save --format oci-archive), imported once', async () => {
    const rootfs = await busyboxRootfs();
    const state = mkdtempSync(join(tmpdir(), 'khutulun-podman-oci-'));
    const driver = new PodmanDriver({
      client: podman.socketPath,
      stateDirectory: state,
      host: 'oci',
    });
    try {
      await podman.cli(['import', rootfs, 'localhost/khutulun-test/oci:1']);
      const file = join(state, 'image.oci.tar');
      await podman.cli([
        'save',
        '--format',
        'oci-archive',
        '-o',
        file,
        'localhost/khutulun-test/oci:1',
      ]);
      await podman.cli(['rmi', 'localhost/khutulun-test/oci:1']);
      const spec = (name: string) => ({
        key: { service: 'oci', name },
        properties: {
          type: 'container',
          environment: {},
          image_archive: { file, format: 'oci-archive' },
          command: ['sh', '-c', 'echo from-oci; trap "exit 0" TERM; sleep 300 & wait'],
        },
        ports: [],
      });
      const a = await driver.create(spec('a'));
      const b = await driver.create(spec('b'));
      const reference = archiveReference(await fileDigest(file));
      expect(a.attributes.image).toBe(reference);
      expect(b.attributes.image).toBe(reference);
      expect((await driver.describe(a.ref))?.commands.slice(0, 2)).toEqual([
        `podman load -i ${file}`,
        `podman tag '<loaded image>' ${reference}`,
      ]);
      for (const s of [a, b]) await driver.delete(s.ref, { graceMs: 1_000 });
      // Neither Khutulun's reference nor the name the archive carried is left.
      const left = await podman.cli(['images', '--format', '{{.Repository}}:{{.Tag}}']);
      expect(left).not.toContain(reference);
      expect(left).not.toContain('khutulun-test/oci');
    } finally {
      await driver.close();
      rmSync(state, { recursive: true, force: true });
    }
  });
});
