/**
 * The resolved TOSCA model the checker builds and the emitter reads: types with their
 * inherited definitions, compiled node templates, requirements, and the service.
 */
import type { Expression, Value } from '@khutulun/floria';
import type { Unit } from './loader.js';
import type { YMap, YNode } from './yaml-tree.js';

/** The kinds of TOSCA type. */
export type TypeKind =
  | 'artifact'
  | 'data'
  | 'capability'
  | 'interface'
  | 'relationship'
  | 'node'
  | 'group'
  | 'policy';
/** A TOSCA type, resolved. */
export interface ToscaType {
  kind: TypeKind;
  name: string;
  /** Unique across the service: profile-qualified name. */
  canonical: string;
  unit?: Unit;
  node?: YMap;
  path: string;
  parent?: ToscaType;
  builtin?: string;
  state: 'new' | 'resolving' | 'done';
  props: Map<string, PropDef>;
  attrs: Map<string, PropDef>;
  capabilities: Map<string, CapDef>;
  requirements: Map<string, ReqDef>;
  interfaces: Map<string, IfaceDef>;
  artifacts: Map<string, { node: YMap; unit: Unit }>;
  operations: Map<string, OpDef>;
  notifications: Map<string, OpDef>;
  inputs: Map<string, PropDef>;
  validations: Clause[];
  scalar?: ScalarInfo;
  entry?: Schema;
  key?: Schema;
  validCapabilityTypes?: ToscaType[];
  validTargetNodeTypes?: ToscaType[];
  validSourceNodeTypes?: ToscaType[];
  validRelationshipTypes?: ToscaType[];
  members?: string[];
  targets?: string[];
  metadata: Record<string, string>;
  version?: string;
  description?: string;
}

/** A validation clause and the file it was written in (for function names). */
export interface Clause {
  node: YNode;
  unit: Unit;
}
/** A data schema: a data type plus entry/key schemas and extra validation clauses. */
export interface Schema {
  type: ToscaType;
  entry?: Schema;
  key?: Schema;
  validations: Clause[];
}
/** A property, attribute or parameter definition. */
export interface PropDef {
  name: string;
  node: YNode;
  schema?: Schema;
  required: boolean;
  default?: YNode;
  fixed?: YNode;
  unit: Unit;
  isAttribute: boolean;
  mapping?: YNode;
}
/** A capability definition of a node type, with its refined properties and attributes. */
export interface CapDef {
  name: string;
  type: ToscaType;
  node: YNode;
  props: Map<string, PropDef>;
  attrs: Map<string, PropDef>;
  /** Node types whose requirements may target it (none given: any). */
  validSources?: ToscaType[];
}
/** A requirement definition of a node type (count_range defaults to [0, UNBOUNDED]). */
export interface ReqDef {
  name: string;
  node: YNode;
  capability?: { type?: ToscaType; name?: string };
  nodeType?: ToscaType;
  nodeTemplate?: string;
  relationship?: ToscaType;
  countRange: [number, number];
  nodeFilter?: YNode;
}
/** An interface definition: its type and the inputs, operations, notifications in effect. */
export interface IfaceDef {
  name: string;
  type: ToscaType;
  inputs: Map<string, PropDef>;
  operations: Map<string, OpDef>;
  notifications: Map<string, OpDef>;
}
/** An operation or notification definition in effect. */
export interface OpDef {
  name: string;
  inputs: Map<string, PropDef>;
  implementation?: YNode;
  outputs?: YNode;
}
/** What a scalar type measures in: every unit (prefixes applied) to its multiplier. */
export interface ScalarInfo {
  /** Every unit symbol a value may use (units with their prefixes), to its multiplier. */
  units: Map<string, number>;
  /** The units as defined, before prefixes (what a derived type may add to). */
  baseUnits?: Map<string, number>;
  prefixes?: Map<string, number>;
  canonical: string;
  dataType: ToscaType;
}

/** A compiled node template. */
export interface NodeTemplate {
  name: string;
  node: YMap;
  type: ToscaType;
  path: string;
  properties: Map<string, { expr: Expression; def?: PropDef }>;
  attributes: Map<string, { expr: Expression; def?: PropDef }>;
  capabilities: Map<string, CompiledCapability>;
  requirements: CompiledRequirement[];
  interfaces: Value;
  artifacts: Record<string, Value>;
  directives: string[];
  count?: number;
  metadata: Record<string, string>;
  nodeFilter?: Value;
  description?: string;
}
/** A capability of a node template, with its values. */
export interface CompiledCapability {
  name: string;
  type: ToscaType;
  properties: Map<string, { expr: Expression; def?: PropDef }>;
  attributes: Map<string, { expr: Expression; def?: PropDef }>;
  validSources?: ToscaType[];
  /** internal and/or external: who may target it (8.4); none given, anyone. */
  directives?: string[];
}
/** A fulfilled requirement. */
export interface CompiledRequirement {
  name: string;
  index: number;
  node: YNode;
  target?: { node: string; capability: string };
  finder?: Value;
  relationship?: ToscaType;
  properties: Map<string, { expr: Expression; def?: PropDef }>;
  attributes: Map<string, { expr: Expression; def?: PropDef }>;
  interfaces: Value;
  /** Capability property -> amount this relationship allocates (canonical numbers). */
  allocation?: Record<string, Value>;
  /**
   * The relationship may be absent: the assignment is `optional: true`, or says nothing and
   * the requirement's count_range allows none (8.7.4). Its edge template is then optional.
   */
  optional?: boolean;
}
/** A custom function definition. */
export interface FunctionDef {
  name: string;
  plugin: string;
  implementation?: { file: string; unit: Unit };
  node: YNode;
  /** Argument counts each signature accepts: [min, max] (max infinite when variadic). */
  arities: Array<[number, number]>;
}
/** The checked service. */
export interface CheckedService {
  types: ToscaType[];
  nodes: NodeTemplate[];
  inputs: Map<string, { value?: Value; def: PropDef }>;
  outputs: Map<string, Expression>;
  groups: Array<{
    name: string;
    type: ToscaType;
    members: string[];
    properties: Map<string, { expr: Expression; def?: PropDef }>;
  }>;
  policies: Array<{
    name: string;
    type: ToscaType;
    targets: string[];
    triggers: Value;
    properties: Map<string, { expr: Expression; def?: PropDef }>;
  }>;
  workflows: Value;
  substitution?: Value;
  metadata: Record<string, string>;
  functions: FunctionDef[];
  description?: string;
}
