/** A problem found in TOSCA input, reported as a value (never thrown). */
export interface Diagnostic {
  severity: 'error' | 'warning';
  /** Stable code from `DIAGNOSTIC_CODES`, e.g. `TOSCA1001`. */
  code: string;
  message: string;
  /** The file (or `archive!entry`) the problem is in. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** The semantic path, e.g. `service_template.node_templates["db"].properties["port"]`. */
  path: string;
  /** Other places that explain the problem (e.g. the definition a value violates). */
  related?: Array<{ file: string; line: number; column: number; message: string }>;
}
