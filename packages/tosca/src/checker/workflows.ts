/** Workflows (TOSCA 2.0 13): imperative workflow steps and their activities. */
import type { Value } from '@khutulun/floria';
import { GRAMMAR } from '../grammar.js';
import type { Unit } from '../loader.js';
import type { NodeTemplate, PropDef } from '../tosca-model.js';

import { getEntry, type YMap, type YNode } from '../yaml-tree.js';

import type { Checker } from './checker.js';
import { q } from './shared.js';

// ---------------------------------------------------------------- workflows

/** Checks an imperative workflow definition (13.2). */
export function workflow(
  this: Checker,
  unit: Unit,
  name: string,
  node: YNode,
  path: string,
  byName: Map<string, NodeTemplate>,
): Value | undefined {
  const m = this.asMap(node, path, `workflow "${name}"`);
  if (!m) return undefined;
  this.keys(m, GRAMMAR.workflow, path, `workflow "${name}"`);
  const precondition = getEntry(m, 'precondition')?.value;
  if (precondition) this.checkCondition(precondition, unit, `${path}.precondition`);
  const inputs = new Map<string, PropDef>();
  const inNode = getEntry(m, 'inputs')?.value;
  if (inNode) this.propDefs(unit, inNode, inputs, `${path}.inputs`, false, 'parameter');
  const steps = this.asMap(getEntry(m, 'steps')?.value, `${path}.steps`, 'steps');
  if (steps) {
    const stepNames = new Set(steps.entries.map((e) => String(e.key.value)));
    this.named(steps, `${path}.steps`, 'step', (sname, sv, _k, sp) => {
      const s = this.asMap(sv, sp, `step "${sname}"`);
      if (!s) return;
      this.keys(s, GRAMMAR.step, sp, `step "${sname}"`);
      const stepFilter = getEntry(s, 'filter')?.value;
      if (stepFilter) this.checkCondition(stepFilter, unit, `${sp}.filter`);
      const target = this.str(getEntry(s, 'target')?.value, `${sp}.target`, 'target');
      const nt = target !== undefined ? byName.get(target) : undefined;
      if (target !== undefined && !nt && !this.groupNames.has(target))
        this.sink.error(
          'TOSCA1020',
          getEntry(s, 'target')?.value as YNode,
          `${sp}.target`,
          `no node template or group "${target}"`,
        );
      const acts = this.asList(getEntry(s, 'activities')?.value, `${sp}.activities`, 'activities');
      acts?.items.forEach((a, i) => {
        this.activity(unit, a, `${sp}.activities[${i}]`, nt, inputs);
      });
      for (const k of ['on_success', 'on_failure']) {
        const v = getEntry(s, k)?.value;
        if (!v) continue;
        const list = v.kind === 'scalar' ? [String(v.value)] : this.strList(v, `${sp}.${k}`, k);
        for (const n of list ?? [])
          if (!stepNames.has(n))
            this.sink.error('TOSCA1020', v, `${sp}.${k}`, `no step "${n}" in workflow "${name}"`);
      }
    });
  }
  return this.embedded(m, path, unit);
}

/** Checks a workflow activity (13.2.3). */
export function activity(
  this: Checker,
  unit: Unit,
  node: YNode,
  path: string,
  target: NodeTemplate | undefined,
  wfInputs?: Map<string, PropDef>,
): void {
  const e = this.soleEntry(
    node,
    path,
    'TOSCA1070',
    'an activity is a map with one entry: delegate, set_state, call_operation or inline',
  );
  if (!e) return;
  const kind = String(e.key.value);
  if (!['delegate', 'set_state', 'call_operation', 'inline'].includes(kind)) {
    this.sink.error(
      'TOSCA1070',
      e.key,
      path,
      `unknown activity "${kind}" (delegate, set_state, call_operation, inline)`,
    );
    return;
  }
  if (kind === 'set_state') {
    this.str(e.value, `${path}.set_state`, 'set_state (a node state)');
    return;
  }
  if (kind === 'inline' || kind === 'delegate') {
    const v = e.value;
    const name =
      v.kind === 'scalar'
        ? this.str(v, `${path}.${kind}`, 'a workflow name')
        : v.kind === 'map'
          ? this.str(getEntry(v, 'workflow')?.value, `${path}.${kind}.workflow`, 'workflow')
          : undefined;
    if (v.kind === 'map')
      this.keys(
        v,
        { workflow: kind === 'inline', inputs: false },
        `${path}.${kind}`,
        `a ${kind} activity`,
      );
    // Inline workflows are this service's; delegated ones are the orchestrator's (deploy...).
    if (kind === 'inline' && name !== undefined && !this.workflowNames.has(name))
      this.sink.error('TOSCA1070', v, `${path}.inline`, `no workflow "${name}" to inline`);
    return;
  }
  if (kind !== 'call_operation') return;
  let opName: string | undefined;
  let inputs: YMap | undefined;
  if (e.value.kind === 'scalar') opName = this.str(e.value, `${path}.call_operation`, 'operation');
  else if (e.value.kind === 'map') {
    opName = this.str(
      getEntry(e.value, 'operation')?.value,
      `${path}.call_operation.operation`,
      'operation',
    );
    const inNode = getEntry(e.value, 'inputs')?.value;
    if (inNode) inputs = this.asMap(inNode, `${path}.call_operation.inputs`, 'inputs');
  }
  if (opName === undefined || !target) return;
  const [ifName, op] = opName.split('.', 2);
  const iface = target.type.interfaces.get(ifName ?? '');
  const opDef = iface?.operations.get(op ?? '');
  if (!iface || !opDef) {
    this.sink.error(
      'TOSCA1070',
      e.value,
      `${path}.call_operation`,
      `node template "${target.name}" has no operation "${opName}"`,
    );
    return;
  }
  const defs = new Map([...iface.inputs, ...opDef.inputs]);
  const given = new Set<string>();
  for (const ie of inputs?.entries ?? []) {
    const k = String(ie.key.value);
    given.add(k);
    const d = defs.get(k);
    const p = `${path}.call_operation.inputs${q(k)}`;
    if (!d) {
      this.sink.error('TOSCA1033', ie.key, p, `operation "${opName}" has no input "${k}"`);
      continue;
    }
    const fn = this.functionName(ie.value);
    if (fn === 'get_input' && wfInputs) {
      const arg = (ie.value as YMap).entries[0]?.value;
      const inName = arg?.kind === 'seq' ? arg.items[0] : arg;
      const wn = inName?.kind === 'scalar' ? String(inName.value) : undefined;
      const wd = wn !== undefined ? wfInputs.get(wn) : undefined;
      if (wd) {
        if (
          wd.schema &&
          d.schema &&
          !this.isA(wd.schema.type, d.schema.type) &&
          !this.isA(d.schema.type, wd.schema.type)
        ) {
          this.sink.error(
            'TOSCA1030',
            ie.value,
            p,
            `workflow input "${wn}" has type "${wd.schema.type.name}", but operation input "${k}" needs "${d.schema.type.name}"`,
          );
        }
        if (d.required && !d.default && !wd.required && !wd.default) {
          this.sink.error(
            'TOSCA1032',
            ie.value,
            p,
            `operation input "${k}" is required but workflow input "${wn}" is optional`,
          );
        }
        continue;
      }
      // Inputs not declared by the workflow are given when it is run.
      continue;
    }
    if (d.schema) this.value(ie.value, d.schema, p, { unit });
  }
  const assigned = target.interfaces as Record<
    string,
    {
      inputs?: Record<string, Value>;
      operations?: Record<string, { inputs?: Record<string, Value> }>;
    }
  >;
  const preset = {
    ...(assigned[ifName ?? '']?.inputs ?? {}),
    ...(assigned[ifName ?? '']?.operations?.[op ?? '']?.inputs ?? {}),
  };
  for (const [k, d] of defs) {
    if (given.has(k) || k in preset || d.default || d.fixed || !d.required) continue;
    this.sink.error(
      'TOSCA1032',
      e.value,
      `${path}.call_operation.inputs`,
      `operation "${opName}" requires input "${k}", which is not given`,
    );
  }
}
