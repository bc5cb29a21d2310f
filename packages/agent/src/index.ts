/** The Khutulun agent: API, event bus, placement, deploy. */
export {
  AgentError,
  AgentStartError,
  ApiRequestError,
  DeployError,
  isAgentError,
} from './agent-error.js';
export { type AgentCommandIO, runAgentCommand } from './run-agent-command.js';
export { type Agent, type AgentOptions, startAgent } from './start-agent.js';
export { agentPidPath, apiSocketPath, defaultStateDir } from './state-dir.js';
