/**
 * Every diagnostic code the compiler emits, with its one-line meaning. Codes are stable:
 * tools and tests match on them; never renumber, only add.
 */
export const DIAGNOSTIC_CODES = {
  TOSCA1000: 'internal error (a bug: please report it with the input)',
  TOSCA1001: 'YAML syntax error (a warning for a quoted scalar under-indented as YAML 1.1 allows)',
  TOSCA1002: 'a file, archive entry or import cannot be read',
  TOSCA1003: 'missing or unsupported tosca_definitions_version',
  TOSCA1004: 'tosca_definitions_version is not the first key',
  TOSCA1010: 'wrong YAML shape (expected a map, list, string...)',
  TOSCA1011: 'unknown keyname',
  TOSCA1012: 'missing required keyname',
  TOSCA1013: 'a section or name is present but empty',
  TOSCA1014: 'duplicate name',
  TOSCA1020: 'unknown type or name',
  TOSCA1021: 'invalid derivation (wrong kind, cycle, not allowed)',
  TOSCA1022: 'invalid refinement of an inherited definition',
  TOSCA1023: 'invalid scalar type definition',
  TOSCA1030: 'value does not match its type',
  TOSCA1031: 'value violates a validation clause',
  TOSCA1032: 'required value missing',
  TOSCA1033: 'assignment to an undefined property, attribute, input or capability',
  TOSCA1034: 'assignment conflicts with a fixed value',
  TOSCA1040: 'unknown function or invalid function call',
  TOSCA1041: 'invalid TOSCA path or reference',
  TOSCA1050: 'requirement cannot be fulfilled',
  TOSCA1051: 'requirement count outside its count_range',
  TOSCA1060: 'import problem (profile not found, unmapped URL, conflicting namespace)',
  TOSCA1061: 'a profile file must not contain a service template',
  TOSCA1070: 'invalid workflow, operation or activity',
  TOSCA1071: 'an implementation Node cannot load (TypeScript source: compile it to .js/.mjs)',
  TOSCA1080: 'invalid substitution mapping',
  TOSCA1090: 'input value missing (error when compiling, warning when validating)',
  TOSCA1091: 'command line input cannot be used',
} as const;

/** A diagnostic code. */
export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;
