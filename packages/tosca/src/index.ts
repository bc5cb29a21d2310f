/** TOSCA 2.0 compiler: files and CSARs to Floria templates, with precise diagnostics. */

export { type CompileOptions, type CompileResult, compile } from './compile.js';
export { type Diagnostic, formatDiagnostic } from './diagnostic.js';
export { DIAGNOSTIC_CODES, type DiagnosticCode } from './diagnostic-codes.js';
export type { ServiceSummary } from './emit.js';
export { type CsarExtraction, extractCsar } from './extract-csar.js';
export { type CommandIo, runToscaCommand } from './tosca-command.js';
export {
  createToscaDispatcher,
  isToscaFunctionError,
  ToscaFunctionError,
} from './tosca-dispatcher.js';
