/** Port networking: per-host TCP/UDP port reservation, exposed through Firewalld or nftables. */
export {
  type CommandResult,
  type CommandRunner,
  commandRunner,
  runCommand,
} from './command-runner.js';
export {
  type Firewall,
  FirewalldFirewall,
  type FirewalldOptions,
  type FirewallPort,
  NftablesFirewall,
  type NftablesOptions,
} from './firewall.js';
export { FilePortLedger, type LedgerEntry, type PortLedger } from './port-ledger.js';
export {
  DEFAULT_PORT_RANGE,
  PortNetworkDriver,
  type PortNetworkOptions,
} from './port-network-driver.js';
