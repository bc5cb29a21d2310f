import { describeNetworkDriverConformance } from '@khutulun/driver/conformance';
import { PortNetworkDriver } from './port-network-driver.js';

// Without a firewall: exposure has its own tests against a real nft and a real firewalld.
describeNetworkDriverConformance('ports', {
  open: (stateDirectory, range) =>
    new PortNetworkDriver({ stateDirectory, range, firewall: 'none' }),
  range: { from: 41030, to: 41035 },
});
