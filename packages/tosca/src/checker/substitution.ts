/** Substitution mappings (TOSCA 2.0 15). */
import type { Expression, Value } from '@khutulun/floria';
import { GRAMMAR } from '../grammar.js';
import type { Unit } from '../loader.js';
import type { NodeTemplate, PropDef, ToscaType } from '../tosca-model.js';

import { getEntry, toPlain, type YNode, type YScalar } from '../yaml-tree.js';

import type { Checker } from './checker.js';
import { compact, q } from './shared.js';

// ---------------------------------------------------------------- substitution

/**
 * A property or attribute mapping's key written as a path (15.2, 15.3):
 * `[ CAPABILITY, capability, name ]` or `[ RELATIONSHIP, requirement, index?, name ]`,
 * each name defined by the substituted node type.
 */
export function mappedPath(
  this: Checker,
  type: ToscaType,
  key: YScalar,
  complex: unknown,
  path: string,
  what: 'property' | 'attribute',
): void {
  const err = (message: string) => this.sink.error('TOSCA1080', key, path, message);
  const parts = Array.isArray(complex) ? complex : [];
  const has = (defs: { props: Map<string, PropDef>; attrs: Map<string, PropDef> }, n: unknown) =>
    typeof n === 'string' && (defs.props.has(n) || (what === 'attribute' && defs.attrs.has(n)));
  if (parts[0] === 'CAPABILITY' && parts.length === 3) {
    const cap = type.capabilities.get(String(parts[1]));
    if (!cap) err(`node type "${type.name}" has no capability "${String(parts[1])}"`);
    else if (!has(cap, parts[2]))
      err(
        `capability "${cap.name}" of node type "${type.name}" has no ${what} "${String(parts[2])}"`,
      );
    return;
  }
  if (parts[0] === 'RELATIONSHIP' && (parts.length === 3 || parts.length === 4)) {
    const idx = parts.length === 4 ? parts[2] : 0;
    const req = type.requirements.get(String(parts[1]));
    if (!req) err(`node type "${type.name}" has no requirement "${String(parts[1])}"`);
    else if (!(idx === 'ALL' || (typeof idx === 'number' && Number.isInteger(idx) && idx >= 0)))
      err(
        `the relationship index must be a non-negative integer or ALL, not ${compact(idx as Value)}`,
      );
    else if (req.relationship && !has(req.relationship, parts[parts.length - 1]))
      err(
        `relationship type "${req.relationship.name}" of requirement "${req.name}" has no ${what} "${String(parts[parts.length - 1])}"`,
      );
    return;
  }
  err(
    `a ${what} mapping key is a ${what} name, [ CAPABILITY, <capability>, <${what}> ] or [ RELATIONSHIP, <requirement>, <index>, <${what}> ] (TOSCA 2.0 ${what === 'property' ? '15.2' : '15.3'})`,
  );
}

/** Checks substitution mappings (15) and returns them as kept for run time. */
export function substitution(
  this: Checker,
  unit: Unit,
  node: YNode,
  path: string,
  byName: Map<string, NodeTemplate>,
  outputs: Map<string, Expression>,
): Value | undefined {
  const m = this.asMap(node, path, 'substitution_mappings');
  if (!m) return undefined;
  this.keys(m, GRAMMAR.substitution_mappings, path, 'substitution_mappings');
  const type = this.typeRef(
    unit,
    'node',
    getEntry(m, 'node_type')?.value,
    `${path}.node_type`,
    'node_type',
  );
  const err = (where: YNode, p: string, message: string) =>
    this.sink.error('TOSCA1080', where, p, message);
  const filter = getEntry(m, 'substitution_filter')?.value;
  if (filter) this.checkCondition(filter, unit, `${path}.substitution_filter`);
  // [ node_template, name ] pointing into this service.
  const target = (v: YNode, p: string, kind: 'capability' | 'requirement'): void => {
    const plain = toPlain(v);
    if (kind === 'requirement') {
      // A selectable node's name, [ node, requirement ], or a list of those (15.5).
      if (typeof plain === 'string') {
        if (!byName.has(plain)) err(v, p, `no node template "${plain}"`);
        return;
      }
      if (
        v.kind === 'seq' &&
        v.items.length > 0 &&
        v.items.every((i) => i.kind === 'seq' || i.kind === 'scalar') &&
        !(v.items.length === 2 && v.items.every((i) => i.kind === 'scalar'))
      ) {
        for (const [n, i] of v.items.entries()) target(i, `${p}[${n}]`, kind);
        return;
      }
    }
    if (
      !Array.isArray(plain) ||
      plain.length !== 2 ||
      typeof plain[0] !== 'string' ||
      typeof plain[1] !== 'string'
    ) {
      err(v, p, `a ${kind} mapping is [ node_template, ${kind}_name ]`);
      return;
    }
    const nt = byName.get(plain[0]);
    if (!nt) {
      err(v, p, `no node template "${plain[0]}"`);
      return;
    }
    const has =
      kind === 'capability' ? nt.capabilities.has(plain[1]) : nt.type.requirements.has(plain[1]);
    if (!has) err(v, p, `node template "${plain[0]}" has no ${kind} "${plain[1]}"`);
  };
  const caps = this.asMap(
    getEntry(m, 'capabilities')?.value,
    `${path}.capabilities`,
    'capabilities',
  );
  for (const e of caps?.entries ?? []) {
    const k = String(e.key.value);
    const p = `${path}.capabilities${q(k)}`;
    if (type && !type.capabilities.has(k))
      err(e.key, p, `node type "${type.name}" has no capability "${k}"`);
    target(e.value, p, 'capability');
  }
  const reqs = getEntry(m, 'requirements')?.value;
  if (reqs) {
    if (reqs.kind !== 'seq' && reqs.kind !== 'map') {
      this.sink.error(
        'TOSCA1010',
        reqs,
        `${path}.requirements`,
        'requirements must be a list of requirement mappings',
      );
    }
    const entries =
      reqs.kind === 'seq'
        ? reqs.items.flatMap((i) => (i.kind === 'map' ? i.entries : []))
        : reqs.kind === 'map'
          ? reqs.entries
          : [];
    for (const e of entries) {
      // A complex key [ name, count ] maps a requirement a number of times.
      const complex = e.key.complex ? toPlain(e.key.complex) : undefined;
      const k = Array.isArray(complex) ? String(complex[0]) : String(e.key.value);
      const p = `${path}.requirements${q(k)}`;
      if (type && !type.requirements.has(k))
        err(e.key, p, `node type "${type.name}" has no requirement "${k}"`);
      target(e.value, p, 'requirement');
    }
  }
  // Property mappings: node properties to service inputs; every input without a value
  // must be fed by one.
  const props = this.asMap(getEntry(m, 'properties')?.value, `${path}.properties`, 'properties');
  const fed = new Set<string>();
  for (const e of props?.entries ?? []) {
    const complex = e.key.complex ? toPlain(e.key.complex) : undefined;
    const k = String(e.key.value);
    const p = `${path}.properties${q(k)}`;
    if (type && !complex && !type.props.has(k))
      err(e.key, p, `node type "${type.name}" has no property "${k}"`);
    if (type && complex !== undefined) this.mappedPath(type, e.key, complex, p, 'property');
    const v = e.value;
    const input =
      v.kind === 'scalar' && typeof v.value === 'string'
        ? v.value
        : Array.isArray(toPlain(v))
          ? String((toPlain(v) as Value[])[0])
          : undefined;
    if (input === undefined) {
      err(v, p, 'a property mapping names a service input');
      continue;
    }
    if (!this.inputs.has(input)) err(v, p, `the service template has no input "${input}"`);
    fed.add(input);
  }
  if (props) {
    for (const [name, i] of this.inputs) {
      if (!fed.has(name) && i.def.required && !i.def.default && !i.def.fixed) {
        err(
          props,
          `${path}.properties`,
          `input "${name}" is required, has no default, and no property maps to it`,
        );
      }
    }
  }
  const attrs = this.asMap(getEntry(m, 'attributes')?.value, `${path}.attributes`, 'attributes');
  for (const e of attrs?.entries ?? []) {
    const complex = e.key.complex ? toPlain(e.key.complex) : undefined;
    const k = String(e.key.value);
    const p = `${path}.attributes${q(k)}`;
    if (type && !complex && !type.attrs.has(k) && !type.props.has(k))
      err(e.key, p, `node type "${type.name}" has no attribute "${k}"`);
    if (type && complex !== undefined) this.mappedPath(type, e.key, complex, p, 'attribute');
    const v = e.value;
    const plain = toPlain(v);
    // TOSCA 1.3's [ node_template, attribute ], which Puccini still reads.
    if (
      Array.isArray(plain) &&
      plain.length === 2 &&
      typeof plain[0] === 'string' &&
      typeof plain[1] === 'string' &&
      byName.has(plain[0]) &&
      !outputs.has(plain[0])
    ) {
      const nt = byName.get(plain[0]) as NodeTemplate;
      if (!nt.type.attrs.has(plain[1]) && !nt.type.props.has(plain[1]))
        err(v, p, `node type "${nt.type.name}" of "${plain[0]}" has no attribute "${plain[1]}"`);
      else
        this.sink.warning(
          'TOSCA1080',
          v,
          p,
          'TOSCA 2.0 15.3 maps an attribute to a service output; [ node_template, attribute ] is the TOSCA 1.3 form, read as Puccini reads it',
        );
      continue;
    }
    const output =
      v.kind === 'scalar' && typeof v.value === 'string'
        ? v.value
        : Array.isArray(plain)
          ? String((plain as Value[])[0])
          : undefined;
    if (output === undefined) err(v, p, 'an attribute mapping names a service output');
    else if (!outputs.has(output)) err(v, p, `the service template has no output "${output}"`);
  }
  const ifaces = this.asMap(getEntry(m, 'interfaces')?.value, `${path}.interfaces`, 'interfaces');
  for (const e of ifaces?.entries ?? []) {
    const k = String(e.key.value);
    if (type && !type.interfaces.has(k))
      err(e.key, `${path}.interfaces${q(k)}`, `node type "${type.name}" has no interface "${k}"`);
  }
  const out = this.embedded(m, path, unit) as Record<string, Value>;
  if (type) out.node_type = type.canonical;
  return out;
}
