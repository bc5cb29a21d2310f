/**
 * Prestart steps: commands run to completion before a workload starts (e.g. `initdb` before
 * PostgreSQL's first start), in the workload's own kind, with its spec but another command
 * and no ports. A `once` step (the default) leaves a marker in the workload's data root and
 * is skipped from then on, so a redeploy that kept its data does not run it again.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  WorkloadDriver,
  WorkloadExit,
  WorkloadKind,
  WorkloadSpec,
  WorkloadStatus,
} from '@khutulun/driver';
import type { Value } from '@khutulun/floria';
import { DeployError } from './agent-error.js';
import { isMap } from './values.js';
import { dataRoot } from './workload-setup.js';

/** The key name of a workload's prestart step `index`. */
export function prestartName(workload: string, index: number): string {
  return `${workload}.prestart-${index}`;
}

/** Runs a workload's prestart steps in order; rejects (naming the step) when one fails. */
export async function runPrestart(options: {
  stateDir: string;
  kind: WorkloadKind;
  driver: WorkloadDriver;
  spec: WorkloadSpec;
  steps: Value | undefined;
  signal: AbortSignal;
}): Promise<void> {
  const { kind, driver, spec } = options;
  const steps = Array.isArray(options.steps) ? options.steps : [];
  for (const [index, step] of steps.entries()) {
    if (!isMap(step) || !Array.isArray(step.command) || !step.command.length) continue;
    const command = step.command.map(String);
    const marker = join(dataRoot(options.stateDir, spec.key), `.prestart-${index}-done`);
    const once = step.once !== false;
    if (once && existsSync(marker)) continue;
    const key = { service: spec.key.service, name: prestartName(spec.key.name, index) };
    const stepSpec: WorkloadSpec = {
      ...spec,
      key,
      properties: kind.withCommand(spec.properties, command),
      ports: [],
      labels: { ...spec.labels, 'io.khutulun.prestart': String(index) },
    };
    const exit = await runToExit(driver, stepSpec, options.signal);
    if (exit.code !== 0) {
      throw new DeployError({
        code: 'prestart-failed',
        status: 500,
        message: `workload ${spec.key.name}: prestart step ${index} (${command.join(' ')}) ${
          exit.code === undefined ? `was killed by ${exit.signal}` : `exited with ${exit.code}`
        }${exit.output ? `: ${exit.output}` : ''}`,
        details: { service: spec.key.service, workload: spec.key.name, step: index },
      });
    }
    if (once) await writeFile(marker, `${new Date().toISOString()}\n`);
  }
}

/** Creates a run-once workload, waits for its exit, keeps the end of its output, removes it. */
async function runToExit(
  driver: WorkloadDriver,
  spec: WorkloadSpec,
  signal: AbortSignal,
): Promise<{ code?: number; signal?: string; output: string }> {
  let off = () => {};
  const exited = new Promise<Pick<WorkloadExit, 'exitCode' | 'signal'>>((resolve) => {
    off = driver.on('exit', (exit) => {
      if (exit.ref.key.service === spec.key.service && exit.ref.key.name === spec.key.name)
        resolve(exit);
    });
  });
  let status: WorkloadStatus | undefined;
  try {
    status = await driver.create(spec);
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    // It may have ended before the listener could see it: the status then says so.
    const now = await driver.read(status.ref);
    const exit =
      now && now.state !== 'running'
        ? { exitCode: now.exitCode, signal: now.signal }
        : await Promise.race([exited, aborted]);
    let output = '';
    if (exit.exitCode !== 0) {
      for await (const chunk of driver.logs(status.ref, { tail: 5 }))
        output += Buffer.from(chunk.data).toString('utf8');
    }
    return {
      ...(exit.exitCode === undefined ? {} : { code: exit.exitCode }),
      ...(exit.signal === undefined ? {} : { signal: exit.signal }),
      output: output.trim().split('\n').slice(-5).join(' | '),
    };
  } finally {
    off();
    if (status) await driver.delete(status.ref, { graceMs: 1_000 });
  }
}
