/**
 * The driver's record of each workload, one JSON file under its state directory
 * (`workloads/<service>/<name>.json`): the spec it was made from (for `describe`), the image
 * and volumes it made, and whether it was stopped on request. The engine stays the source of
 * truth for what exists; the record only adds what the engine does not keep.
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkloadKey, WorkloadRef, WorkloadSpec } from '@khutulun/driver';

/** What the driver keeps per workload. */
export interface WorkloadRecord {
  ref: WorkloadRef;
  spec: WorkloadSpec;
  /** The image reference the container was made from. */
  image?: string;
  /** The named volumes this workload's create made (for `describe`; they go with their last user). */
  createdVolumes: string[];
  /** Stopped on request (`stop`), and not restarted since. */
  stopped: boolean;
}

const keyId = (key: WorkloadKey) => `${key.service}/${key.name}`;

/** The records of one driver (the files are its alone, so they are cached once read). */
export class WorkloadRecords {
  readonly #directory: string;
  readonly #cache = new Map<string, WorkloadRecord>();

  constructor(directory: string) {
    this.#directory = directory;
  }

  /** The record's file. */
  file(key: WorkloadKey): string {
    return join(this.#directory, 'workloads', key.service, `${key.name}.json`);
  }

  async read(key: WorkloadKey): Promise<WorkloadRecord | undefined> {
    const cached = this.#cache.get(keyId(key));
    if (cached) return cached;
    try {
      const record = JSON.parse(await readFile(this.file(key), 'utf8')) as WorkloadRecord;
      this.#cache.set(keyId(key), record);
      return record;
    } catch {
      return undefined;
    }
  }

  /**
   * Writes a record whole (a temporary file renamed over the old one). The spec may hold
   * secrets (passwords in the environment), so only the agent's user reads it: the file is
   * 0600 and its directories 0700, as the process driver keeps its environment files.
   */
  async write(record: WorkloadRecord): Promise<void> {
    const file = this.file(record.ref.key);
    this.#cache.set(keyId(record.ref.key), record);
    const workloads = join(this.#directory, 'workloads');
    const service = join(workloads, record.ref.key.service);
    await mkdir(service, { recursive: true, mode: 0o700 });
    // Directories made before (or by an older version) are narrowed too.
    for (const directory of [workloads, service]) await chmod(directory, 0o700);
    await writeFile(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    await chmod(`${file}.tmp`, 0o600);
    await rename(`${file}.tmp`, file);
  }

  /** Records whether the workload was stopped on request. */
  async setStopped(key: WorkloadKey, stopped: boolean): Promise<void> {
    const record = await this.read(key);
    if (record && record.stopped !== stopped) await this.write({ ...record, stopped });
  }

  async remove(key: WorkloadKey): Promise<void> {
    this.#cache.delete(keyId(key));
    await rm(this.file(key), { force: true });
  }
}
