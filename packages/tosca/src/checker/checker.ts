/**
 * The TOSCA 2.0 semantic checker. It fills a `DiagnosticSink` and builds the resolved model
 * that `emit` turns into Floria entities, in two passes, the way the TypeScript compiler
 * separates binding from checking:
 *
 * 1. `bind`: every type, function and repository of every loaded file is collected and
 *    resolved (derivation, refinement, the definitions each type carries);
 * 2. `checkService`: the service templates are checked against those types.
 *
 * The class holds the state and the grammar helpers every chapter uses; each chapter of the
 * specification has its own module, whose functions become the checker's methods:
 * `definitions.ts` (types and definitions), `data-types.ts` (data types and values),
 * `functions.ts` (expressions and functions), `templates.ts` (service and node templates),
 * `requirements.ts` (requirements and fulfilment), `workflows.ts`, `substitution.ts`.
 */
import type { Value } from '@khutulun/floria';
import type { DiagnosticSink } from '../diagnostic.js';
import type { DiagnosticCode } from '../diagnostic-codes.js';
import type { Keynames } from '../grammar.js';
import type { Unit } from '../loader.js';
import type { SourceReader } from '../source-reader.js';
import type { CheckedService, FunctionDef, PropDef, ToscaType, TypeKind } from '../tosca-model.js';

import { getEntry, toPlain, type YMap, type YNode, type YScalar } from '../yaml-tree.js';
import * as dataTypes from './data-types.js';
import * as definitions from './definitions.js';
import * as functions from './functions.js';
import * as requirements from './requirements.js';
import { LEGACY_KEYNAMES, LEGACY_SCALARS, PRIMITIVES, q } from './shared.js';
import * as substitution from './substitution.js';
import * as templates from './templates.js';
import * as workflows from './workflows.js';

/** Checks a loaded service and builds the resolved model. */
export class Checker {
  readonly typesByUnit = new Map<Unit, Map<string, ToscaType>>();
  readonly visibleCache = new Map<Unit, Map<string, ToscaType>>();
  readonly repositoryCache = new Map<Unit, Map<string, YNode>>();
  readonly reflectedCache = new Map<object, Map<string, PropDef>>();
  readonly typeInterfaces = new Map<ToscaType, Map<Unit, Value>>();
  readonly requiredKeys = new Map<Keynames, string[]>();
  readonly functionsByUnit = new Map<Unit, Map<string, FunctionDef>>();
  readonly allTypes: ToscaType[] = [];
  readonly builtins = new Map<string, ToscaType>();
  inputs = new Map<string, { value?: Value; def: PropDef }>();
  /** Checking a substitution template (its inputs are fed by the substituted node). */
  substituting = false;
  readonly allFunctions: FunctionDef[] = [];
  /** `$valid_values` calls written with their list alone, and the arguments they imply. */
  readonly impliedValue = new WeakMap<YNode, YNode[]>();
  /** The function names of call texts (`$concat`, `$get_input$2`), asked of every value. */
  readonly callNames = new Map<string, string>();
  readonly unitByName = new Map<string, Unit>();
  /** Node template name -> its type, known before templates are checked (for TOSCA paths). */
  templateTypes = new Map<string, ToscaType | undefined>();
  /** The service's workflow and group names (workflow steps and activities refer to them). */
  workflowNames = new Set<string>();
  groupNames = new Set<string>();
  /** The service's node templates (as written, copies applied), for references to them. */
  templateNodes = new Map<string, YMap>();
  /** The node template SELF denotes where a path is being compiled. */
  selfName: string | undefined;
  /** The node type SELF denotes where a path is being compiled (node properties/attributes). */
  selfType: ToscaType | undefined;
  /** The template being checked: where a missing assignment is reported. */
  owner: YNode | undefined;

  constructor(
    readonly sink: DiagnosticSink,
    readonly units: Unit[],
    readonly given: Record<string, Value>,
    readonly validateOnly: boolean,
    readonly reader?: SourceReader,
  ) {
    for (const u of units) this.unitByName.set(u.name, u);
    for (const name of [...PRIMITIVES, ...Object.keys(LEGACY_SCALARS)]) {
      const t = this.newType('data', name, name, undefined, undefined, name);
      t.builtin = name;
      t.state = 'done';
      if (LEGACY_SCALARS[name]) {
        t.scalar = {
          units: new Map(Object.entries(LEGACY_SCALARS[name])),
          canonical: Object.keys(LEGACY_SCALARS[name])[0] ?? '',
          dataType: t,
        };
      }
      this.builtins.set(name, t);
    }
    for (const t of this.builtins.values())
      if (t.scalar) t.scalar.dataType = this.builtins.get('float') as ToscaType;
  }

  newType(
    kind: TypeKind,
    name: string,
    canonical: string,
    unit: Unit | undefined,
    node: YMap | undefined,
    path: string,
  ): ToscaType {
    return {
      kind,
      name,
      canonical,
      unit,
      node,
      path,
      state: 'new',
      props: new Map(),
      attrs: new Map(),
      capabilities: new Map(),
      requirements: new Map(),
      interfaces: new Map(),
      artifacts: new Map(),
      operations: new Map(),
      notifications: new Map(),
      inputs: new Map(),
      validations: [],
      metadata: {},
    };
  }

  // ---------------------------------------------------------------- shape helpers

  keys(node: YMap, grammar: Keynames, path: string, what: string): void {
    for (const e of node.entries) {
      const k = e.key.value;
      if (typeof k !== 'string' || !(k in grammar)) {
        this.sink.error(
          'TOSCA1011',
          e.key,
          `${path}.${String(k)}`,
          `unknown keyname "${String(k)}" in ${what}${typeof k === 'string' && LEGACY_KEYNAMES[k] ? ` (${LEGACY_KEYNAMES[k]})` : ''}`,
        );
      } else if (
        k === 'description' &&
        !(e.value.kind === 'scalar' && typeof e.value.value === 'string')
      ) {
        // Common keynames (5.3) have the same shape everywhere.
        this.sink.error(
          'TOSCA1010',
          e.value,
          `${path}.description`,
          'description must be a string',
        );
      } else if (k === 'metadata' && e.value.kind !== 'map') {
        this.sink.error('TOSCA1010', e.value, `${path}.metadata`, 'metadata must be a map');
      }
    }
    let required = this.requiredKeys.get(grammar);
    if (!required) {
      required = Object.entries(grammar)
        .filter(([, req]) => req)
        .map(([k]) => k);
      this.requiredKeys.set(grammar, required);
    }
    for (const k of required) {
      if (!getEntry(node, k))
        this.sink.error('TOSCA1012', node, path, `${what} is missing the required keyname "${k}"`);
    }
  }

  /** The one entry of a map that must have exactly one (name: definition), or a diagnostic. */
  soleEntry(
    node: YNode,
    path: string,
    code: DiagnosticCode,
    message: string,
  ): { key: YScalar; value: YNode } | undefined {
    if (node.kind === 'map' && node.entries.length === 1)
      return node.entries[0] as { key: YScalar; value: YNode };
    this.sink.error(code, node, path, message);
    return undefined;
  }

  /** A map node, or a diagnostic. `null` values get the "empty" diagnostic. */
  asMap(node: YNode | undefined, path: string, what: string): YMap | undefined {
    if (!node) return undefined;
    if (node.kind === 'map') return node;
    if (node.kind === 'scalar' && node.value === null)
      this.sink.error('TOSCA1013', node, path, `${what} is empty: give a map or omit the keyname`);
    else this.sink.error('TOSCA1010', node, path, `${what} must be a map`);
    return undefined;
  }

  asList(node: YNode | undefined, path: string, what: string) {
    if (!node) return undefined;
    if (node.kind === 'seq') return node;
    if (node.kind === 'scalar' && node.value === null)
      this.sink.error('TOSCA1013', node, path, `${what} is empty: give a list or omit the keyname`);
    else this.sink.error('TOSCA1010', node, path, `${what} must be a list`);
    return undefined;
  }

  str(node: YNode | undefined, path: string, what: string, allowEmpty = false): string | undefined {
    if (!node) return undefined;
    if (
      node.kind === 'scalar' &&
      typeof node.value === 'string' &&
      (allowEmpty || node.value !== '')
    )
      return node.value;
    this.sink.error(
      'TOSCA1010',
      node,
      path,
      `${what} must be a ${allowEmpty ? '' : 'non-empty '}string`,
    );
    return undefined;
  }

  strList(node: YNode | undefined, path: string, what: string): string[] | undefined {
    const list = this.asList(node, path, what);
    if (!list) return undefined;
    const out: string[] = [];
    list.items.forEach((item, i) => {
      const s = this.str(item, `${path}[${i}]`, `each entry of ${what}`);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  /** Iterates a map of named definitions, checking names are non-empty strings. */
  named(
    map: YMap,
    path: string,
    what: string,
    fn: (name: string, value: YNode, key: YScalar, path: string) => void,
  ): void {
    for (const e of map.entries) {
      const k = e.key.value;
      if (typeof k !== 'string' || k === '' || (e.key.quoted === false && typeof k !== 'string')) {
        this.sink.error(
          k === '' || k === null ? 'TOSCA1013' : 'TOSCA1010',
          e.key,
          path,
          `${what} names must be non-empty strings`,
        );
        continue;
      }
      fn(k, e.value, e.key, `${path}${q(k)}`);
    }
  }

  metadata(node: YNode | undefined, path: string): Record<string, string> {
    const out: Record<string, string> = {};
    const map = this.asMap(node, path, 'metadata');
    if (!map) return out;
    for (const e of map.entries) {
      const k = String(e.key.value);
      const v = e.value;
      if (v.kind === 'scalar' && v.value === null) {
        this.sink.error('TOSCA1013', v, `${path}${q(k)}`, `metadata "${k}" has no value`);
        continue;
      }
      if (
        (k === 'template_name' || k === 'template_author') &&
        v.kind === 'scalar' &&
        typeof v.value !== 'string'
      ) {
        this.sink.error('TOSCA1030', v, `${path}${q(k)}`, `metadata "${k}" must be a string`);
        continue;
      }
      out[k] = v.kind === 'scalar' ? (v.source ?? String(v.value)) : JSON.stringify(toPlain(v));
    }
    return out;
  }

  description(node: YNode | undefined, path: string): string | undefined {
    if (!node) return undefined;
    return this.str(node, path, 'description', true);
  }

  // ---------------------------------------------------------------- files

  /**
   * Runs both passes; returns the service when the entry file has one. `substitutes` are the
   * CSAR's Other-Definitions: substitution templates, checked as services whose inputs come
   * from the node they substitute.
   */
  check(entry: Unit, substitutes: Unit[] = []): CheckedService | undefined {
    this.bind();
    for (const unit of substitutes) {
      const st = unit.root && unit.ok ? getEntry(unit.root, 'service_template') : undefined;
      if (!st) continue;
      this.substituting = true;
      this.checkService(unit, st.value);
      this.substituting = false;
      this.inputs = new Map();
      this.templateTypes = new Map();
    }
    const st = entry.root && entry.ok ? getEntry(entry.root, 'service_template') : undefined;
    if (!st) return undefined;
    return this.checkService(entry, st.value);
  }
  /**
   * The first pass: collects the types, functions and repositories of every file, checks each
   * file's top-level keynames, and resolves every type, so the second pass sees them whole.
   */
  bind(): void {
    for (const unit of this.units) if (unit.root && unit.ok) this.collect(unit);
    for (const unit of this.units) if (unit.root && unit.ok) this.checkFile(unit);
    for (const t of this.allTypes) this.resolveType(t);
  }

  // The methods the chapter modules define (put on the prototype below), by chapter.
  declare visible: typeof definitions.visible;
  declare addVisible: typeof definitions.addVisible;
  declare repositories: typeof definitions.repositories;
  declare reflected: typeof definitions.reflected;
  declare lookup: typeof definitions.lookup;
  declare typeRef: typeof definitions.typeRef;
  declare isA: typeof definitions.isA;
  declare baseOf: typeof definitions.baseOf;
  declare scalarOf: typeof definitions.scalarOf;
  declare collect: typeof definitions.collect;
  declare functionDef: typeof definitions.functionDef;
  declare primaryFile: typeof definitions.primaryFile;
  declare primaryNode: typeof definitions.primaryNode;
  declare loadable: typeof definitions.loadable;
  declare checkFile: typeof definitions.checkFile;
  declare importedFunctions: typeof definitions.importedFunctions;
  declare resolveType: typeof definitions.resolveType;
  declare nodeTypeParts: typeof definitions.nodeTypeParts;
  declare capDef: typeof definitions.capDef;
  declare reqDef: typeof definitions.reqDef;
  declare countRange: typeof definitions.countRange;
  declare interfaceDefs: typeof definitions.interfaceDefs;
  declare sharedInputs: typeof definitions.sharedInputs;
  declare opDef: typeof definitions.opDef;
  declare implementation: typeof definitions.implementation;
  declare artifactDef: typeof definitions.artifactDef;
  declare fixedRefined: typeof definitions.fixedRefined;
  declare propDefs: typeof definitions.propDefs;
  declare propDef: typeof definitions.propDef;
  declare schemaFrom: typeof definitions.schemaFrom;
  declare schema: typeof definitions.schema;
  declare dataType: typeof dataTypes.dataType;
  declare multipliers: typeof dataTypes.multipliers;
  declare value: typeof dataTypes.value;
  declare checkLiteral: typeof dataTypes.checkLiteral;
  declare literalValue: typeof dataTypes.literalValue;
  declare primitive: typeof dataTypes.primitive;
  declare validate: typeof dataTypes.validate;
  declare evaluateClause: typeof dataTypes.evaluateClause;
  declare assignProps: typeof dataTypes.assignProps;
  declare attributeValue: typeof dataTypes.attributeValue;
  declare functionName: typeof functions.functionName;
  declare argumentNodes: typeof functions.argumentNodes;
  declare clauseArguments: typeof functions.clauseArguments;
  declare expression: typeof functions.expression;
  declare keyExpression: typeof functions.keyExpression;
  declare call: typeof functions.call;
  declare checkPath: typeof functions.checkPath;
  declare hostRequirement: typeof functions.hostRequirement;
  declare checkArtifactRef: typeof functions.checkArtifactRef;
  declare customFunction: typeof functions.customFunction;
  declare checkClause: typeof functions.checkClause;
  declare checkCondition: typeof functions.checkCondition;
  declare nodeInterfaces: typeof templates.nodeInterfaces;
  declare checkService: typeof templates.checkService;
  declare resolveCopies: typeof templates.resolveCopies;
  declare isNodeOf: typeof templates.isNodeOf;
  declare nodeTemplate: typeof templates.nodeTemplate;
  declare artifactValue: typeof templates.artifactValue;
  declare artifactTypeOf: typeof templates.artifactTypeOf;
  declare fileInfo: typeof templates.fileInfo;
  declare embedded: typeof templates.embedded;
  declare relationshipAssignments: typeof templates.relationshipAssignments;
  declare interfaceAssignments: typeof templates.interfaceAssignments;
  declare checkOutputMappings: typeof templates.checkOutputMappings;
  declare implementationValue: typeof templates.implementationValue;
  declare embeddedInputs: typeof templates.embeddedInputs;
  declare directives: typeof templates.directives;
  declare countValue: typeof templates.countValue;
  declare substitutionRequirementTargets: typeof requirements.substitutionRequirementTargets;
  declare fulfil: typeof requirements.fulfil;
  declare relationshipMismatch: typeof requirements.relationshipMismatch;
  declare whyNoCapability: typeof requirements.whyNoCapability;
  declare namedFilterVerdict: typeof requirements.namedFilterVerdict;
  declare embeddedFilter: typeof requirements.embeddedFilter;
  declare workflow: typeof workflows.workflow;
  declare activity: typeof workflows.activity;
  declare mappedPath: typeof substitution.mappedPath;
  declare substitution: typeof substitution.substitution;
}

Object.assign(Checker.prototype, definitions);
Object.assign(Checker.prototype, dataTypes);
Object.assign(Checker.prototype, functions);
Object.assign(Checker.prototype, templates);
Object.assign(Checker.prototype, requirements);
Object.assign(Checker.prototype, workflows);
Object.assign(Checker.prototype, substitution);
