/** What a deploy form needs to know about a service template's inputs. */
import type { CompiledEntity, Diagnostic, JsonValue } from './types.js';

/** One input of a service template. */
export interface InputDefinition {
  name: string;
  /** The TOSCA type (`string`, `integer`, a data type's canonical name, ...), when known. */
  type?: string;
  /** The default (or the value the compile used), when there is one. */
  default?: JsonValue;
  description?: string;
  required?: boolean;
}

/**
 * The inputs of a compiled service (`POST /v1/tosca/compile`): the service vertex template's
 * `input:NAME` properties, with their `tosca.type` (and `tosca.description`,
 * `tosca.required` where the compiler records them).
 */
export function inputDefinitions(output: CompiledEntity[] | null | undefined): InputDefinition[] {
  const service = (output ?? []).find(
    (e) => e.id.kind === 'vertex-template' && e.metadata['tosca.entity'] === 'service',
  );
  const inputs: InputDefinition[] = [];
  for (const [key, property] of Object.entries(service?.properties ?? {})) {
    if (!key.startsWith('input:')) continue;
    const meta = property.metadata ?? {};
    const input: InputDefinition = { name: key.slice('input:'.length) };
    if (meta['tosca.type']) input.type = meta['tosca.type'];
    if (property.value !== undefined) input.default = property.value;
    if (meta['tosca.description']) input.description = meta['tosca.description'];
    if (meta['tosca.required']) input.required = meta['tosca.required'] === 'true';
    inputs.push(input);
  }
  return inputs;
}

/** A diagnostic as `file:line:col: severity CODE: message`, the form editors understand. */
export function formatDiagnostic(d: Diagnostic): string {
  const place = d.file ? `${d.file}:${d.line ?? 0}:${d.column ?? 0}: ` : '';
  return `${place}${d.severity} ${d.code}: ${d.message}`;
}
