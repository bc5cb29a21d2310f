/**
 * The persisted ledger of port reservations: what makes them unique across services and
 * survive an agent crash. A small interface, so the agent may keep it in its store; the
 * default is a JSON file replaced atomically (write, fsync, rename, fsync the directory).
 */
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { PortReservation } from '@khutulun/driver';

/** A reservation with the exact firewall commands run for it. */
export interface LedgerEntry extends PortReservation {
  commands: string[];
}

/** Where reservations persist. `save` must be atomic: after a crash, `load` sees the old or the new list. */
export interface PortLedger {
  load(): Promise<LedgerEntry[]>;
  save(entries: LedgerEntry[]): Promise<void>;
}

/** A `PortLedger` in one JSON file, replaced atomically on every save. */
export class FilePortLedger implements PortLedger {
  constructor(readonly path: string) {}

  async load(): Promise<LedgerEntry[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    // Also reads a bare array of reservations (the agent's interim ledger wrote that form).
    const data = JSON.parse(text) as { reservations?: LedgerEntry[] } | LedgerEntry[];
    const entries = Array.isArray(data) ? data : (data.reservations ?? []);
    return entries.map((e) => ({ ...e, commands: e.commands ?? [] }));
  }

  async save(entries: LedgerEntry[]): Promise<void> {
    const temporary = `${this.path}.${process.pid}.tmp`;
    const file = await open(temporary, 'w', 0o600);
    try {
      await file.writeFile(`${JSON.stringify({ version: 1, reservations: entries }, null, 2)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, this.path);
    const directory = await open(dirname(this.path), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }
}
